"""Loaded encoder SavedModels, handed from a finished classifier to the next one in a process.

A float32 classifier's hub layer trains the loaded SavedModel's own variables, so each
classifier needs a loaded encoder of its own. Loading one is the smaller cost (MiniLM:
0.4-0.8 s); the larger comes at the first traced training step, where TensorFlow builds the
backward function of the loaded encoder's function (MiniLM: 1.3-1.5 s), once per loaded
object. A process that builds several classifiers from one encoder (a budgeted run's
measurement, then the run; seeds; a sweep's trials; a notebook; the tests) pays both once
when a loaded encoder whose classifier is gone is handed to the next classifier, its
variables first read back from the SavedModel's own checkpoint, so it starts exactly as a
freshly loaded one would.

Only local SavedModel folders (bertclf's cache: converted, tiny and pretrained encoders, or
a user's folder) outside any `tf.distribute` strategy are kept: a strategy's variables
belong to it. The key is the folder with its graph's and checkpoint's identity (device,
inode, time, size): a folder rebuilt in place is loaded again. Only the last encoder's
objects are kept, at most two of them (a distributed run's undistributed twin needs a
second), so a process that moves on to another encoder releases the first one's memory.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from pathlib import Path
from typing import Any, Callable, Optional

from bertclf.files import is_url

_MAX_KEPT = 2


@dataclasses.dataclass
class _Kept:
    loaded: Any
    owner: Optional[weakref.ref] = None

    def free(self) -> bool:
        return self.owner is None or self.owner() is None


_KEPT: dict[tuple, list[_Kept]] = {}
_LOCK = threading.Lock()
# Loads and reuses, for tests and benchmarks: how the process got its encoders.
counts = {"loaded": 0, "reused": 0}


def encoder_for(handle: str, load: Callable[[], Any], make_layer: Callable[[Any], Any], tf) -> Any:
    """`make_layer(loaded)` for a loaded encoder that no live layer uses, loading one if need be.

    Args:
        handle: The encoder's TF Hub handle or folder.
        load: Loads the SavedModel (`hub.load(handle)`).
        make_layer: Builds the layer (`hub.KerasLayer`) around the loaded object.
        tf: TensorFlow, imported by the caller.
    """
    key = _key(handle, tf)
    if key is None:
        counts["loaded"] += 1
        return make_layer(load())
    with _LOCK:
        for other in [k for k in _KEPT if k != key]:  # another encoder's: release its memory
            _KEPT[other] = [kept for kept in _KEPT[other] if not kept.free()]
            if not _KEPT[other]:
                del _KEPT[other]
        kept = _free(key)
        if kept is not None and not _restore(kept.loaded, handle, tf):
            _KEPT[key].remove(kept)
            kept = None
        if kept is None:
            kept = _Kept(load())
            counts["loaded"] += 1
            entries = _KEPT.setdefault(key, [])
            if len(entries) < _MAX_KEPT:
                entries.append(kept)
        else:
            counts["reused"] += 1
        layer = make_layer(kept.loaded)
        kept.owner = weakref.ref(layer)
        return layer


def release(model) -> None:
    """Marks the encoders of `model`'s layers free for the next classifier: call it when `model`
    will not be used again (the end of a run or of a budget's measurement).

    Without it, an encoder is free once its layer is garbage: a finished Keras model is a cycle
    of objects, freed by the cyclic collector at a time of its choosing, and collecting on
    purpose takes a quarter of a second in a process that holds TensorFlow and a few models.
    """
    layers = getattr(model, "layers", ())
    with _LOCK:
        for entries in _KEPT.values():
            for kept in entries:
                owner = kept.owner() if kept.owner is not None else None
                if owner is not None and any(owner is layer for layer in layers):
                    kept.owner = None


def forget() -> None:
    """Drops every kept encoder (their memory goes with the last layer that uses them)."""
    with _LOCK:
        _KEPT.clear()


def _key(handle: str, tf) -> Optional[tuple]:
    if is_url(handle) or tf.distribute.has_strategy():
        return None
    folder = Path(handle)
    try:
        identity = tuple((stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)
                         for stat in ((folder / "saved_model.pb").stat(),
                                      (folder / "variables" / "variables.index").stat()))
    except OSError:
        return None  # not a complete SavedModel folder: loading it says why
    return (str(folder.resolve()), identity)


def _free(key: tuple) -> Optional[_Kept]:
    return next((kept for kept in _KEPT.get(key, []) if kept.free()), None)


def _restore(loaded: Any, handle: str, tf) -> bool:
    """Reads the SavedModel's checkpoint back into `loaded`'s variables; False if it could not."""
    try:
        status = tf.train.Checkpoint(root=loaded).read(str(Path(handle) / "variables" / "variables"))
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError):
        return False
    return True
