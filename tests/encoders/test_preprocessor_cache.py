"""A preprocessor is loaded once per process and folder, and again when the folder is rebuilt."""

from __future__ import annotations

import os
import shutil

from bertclf.encoders import load_preprocessor


def test_a_preprocessor_loads_once_per_folder_and_again_after_a_rebuild(tiny_encoder_dir, tmp_path):
    folder = tmp_path / "preprocessor"
    shutil.copytree(tiny_encoder_dir / "preprocessor", folder)
    first = load_preprocessor(str(folder))
    assert load_preprocessor(str(folder)) is first
    assert load_preprocessor(str(tmp_path / "." / "preprocessor")) is first  # the same folder, spelled apart
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    assert load_preprocessor(str(other)) is not first
    # Rebuilt in place (bertclf's cache replaces a folder whole): a new saved_model.pb, a new load.
    graph = folder / "saved_model.pb"
    rebuilt = graph.read_bytes()
    graph.unlink()
    graph.write_bytes(rebuilt)
    os.utime(graph, ns=(graph.stat().st_atime_ns, graph.stat().st_mtime_ns + 1_000_000))
    again = load_preprocessor(str(folder))
    assert again is not first
    tokens = again.tokenize(["the film"])
    assert tokens.shape[0] == 1
