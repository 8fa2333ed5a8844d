"""The cached facts of a native rebuild: read once per SavedModel, read again when it changes."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # loads a SavedModel


def test_a_second_read_comes_from_the_cache_and_a_changed_savedmodel_is_read_again(
        tiny_encoder_dir, tmp_path, monkeypatch):
    from bertclf.encoders import native

    folder = tmp_path / "encoder"
    shutil.copytree(tiny_encoder_dir, folder)
    handle = str(folder / "encoder")
    reads = []
    original = native._read_native_weights
    monkeypatch.setattr(native, "_read_native_weights", lambda h: reads.append(h) or original(h))

    first = native.read_native_weights(handle)
    second = native.read_native_weights(handle)
    assert reads == [handle]  # the second came from the cache
    assert first.activation == second.activation and first.num_layers == second.num_layers
    assert set(first.weights) == set(second.weights)
    for name, value in first.weights.items():
        np.testing.assert_array_equal(second.weights[name], value)
        assert second.weights[name].dtype == value.dtype

    # A SavedModel written again (a new time on its graph) is not served from the old entry.
    graph = folder / "encoder" / "saved_model.pb"
    stat = graph.stat()
    os.utime(graph, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    native.read_native_weights(handle)
    assert reads == [handle, handle]


def test_dropout_comes_from_the_manifest_not_the_cache(tiny_encoder_dir, tmp_path):
    import json

    from bertclf.encoders import native
    from bertclf.encoders.registry import MANIFEST_FILE

    folder = tmp_path / "encoder"
    shutil.copytree(tiny_encoder_dir, folder)
    handle = str(folder / "encoder")
    before = native.read_native_weights(handle)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["dropout"] = 0.25
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    after = native.read_native_weights(handle)
    assert after.dropout == 0.25 and before.dropout != 0.25
