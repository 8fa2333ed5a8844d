"""The exported SavedModel this process loaded last, kept for the next command that needs it.

`train` checks its export by loading it (`export.check_export`); `evaluate`, `predict` and
`serve` in the same process (a notebook, `bertclf.train` then `.predict`, the tests) then
use that object instead of loading the model again (MiniLM's takes 2-3 s, e5's more). The
key is the identity of the model's saved_model.pb (device, inode, time, size), not its path:
a run publishes its model by renaming the checked staging folder into place, which keeps all
four, while a model folder replaced by another export (`train --overwrite`, a copy) has a new
file and is loaded again. One model only, so a process that walks through many runs holds
one model's memory.

Only callers that use the loaded model's signatures and variables may share it: an object
loaded from a staging folder names that folder's assets, which the rename moved (the ONNX
export reads the vocabulary file, and loads its own).
"""

from __future__ import annotations

from pathlib import Path

_LAST_LOADED: dict[tuple, object] = {}


def load_exported(tf, model_dir: Path):
    """`tf.saved_model.load(model_dir)`, or the object loaded last if it is this model."""
    try:
        graph = (model_dir / "saved_model.pb").stat()
        key = (graph.st_dev, graph.st_ino, graph.st_mtime_ns, graph.st_size)
    except OSError:
        key = None  # not loadable: tf.saved_model.load says why
    if key is not None and key in _LAST_LOADED:
        return _LAST_LOADED[key]
    _LAST_LOADED.clear()  # before loading: never two models' memory at once
    loaded = tf.saved_model.load(str(model_dir))
    if key is not None:
        _LAST_LOADED[key] = loaded
    return loaded


def forget() -> None:
    """Drops the kept model (its memory goes with the last reference to it)."""
    _LAST_LOADED.clear()
