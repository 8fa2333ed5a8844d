"""scripts/ that delete files: only what they made themselves."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from conftest import PROJECT_ROOT


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_conversion_timing_removes_only_the_caches_it_made(tmp_path, monkeypatch, capsys):
    import bertclf.encoders
    import bertclf.encoders.registry
    import bertclf.runtime.tf_setup

    users_cache = tmp_path / "users-cache"
    (users_cache / "encoders").mkdir(parents=True)
    (users_cache / "encoders" / "kept.txt").write_text("the user's", encoding="utf-8")
    monkeypatch.setenv("BERTCLF_CACHE", str(users_cache))
    used = []

    def prepare(spec, model, texts, seed):  # stands in for the conversion: writes into the cache it is given
        cache = Path(os.environ["BERTCLF_CACHE"])
        (cache / "encoders" / spec.name).mkdir(parents=True)
        used.append(cache)

    monkeypatch.setattr(bertclf.encoders, "prepare_encoder", prepare)
    monkeypatch.setattr(bertclf.encoders.registry, "packaged_checkpoint", lambda spec: tmp_path)
    monkeypatch.setattr(bertclf.runtime.tf_setup, "setup_tensorflow", lambda *args, **kwargs: None)
    monkeypatch.setattr(sys, "argv", ["encoder_conversion_timing.py", "minilm_l6_uncased", "--repeats", "2"])
    _script("encoder_conversion_timing").main()

    assert len(used) == 2 and used[0] != used[1] and users_cache not in used
    assert not any(cache.exists() for cache in used)  # its own temporary caches, removed
    assert (users_cache / "encoders" / "kept.txt").read_text(encoding="utf-8") == "the user's"
    assert capsys.readouterr().out.count("minilm_l6_uncased repeat") == 2
