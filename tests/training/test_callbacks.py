"""The epoch hook a sweep prunes through: what it is told, and what it does with an exception."""

from __future__ import annotations

import types


def _hook_callback(stop_training: bool, epochs: int):
    from bertclf.training.callbacks import EpochHook, StopGuard

    seen = []
    callback = EpochHook(lambda epoch, last, logs: seen.append((epoch, last, logs)), StopGuard(steps_per_epoch=4))
    callback.model = types.SimpleNamespace(stop_training=stop_training)
    callback.params = {"epochs": epochs}
    return callback, seen


def test_the_hook_hears_each_epoch_and_the_fits_last_one():
    callback, seen = _hook_callback(stop_training=False, epochs=3)
    callback.on_epoch_end(0, {"val_loss": 0.5})
    assert seen == [(1, 3, {"val_loss": 0.5})]
    # Early stopping, decided by the validation callback before this one, ends the fit here.
    callback, seen = _hook_callback(stop_training=True, epochs=3)
    callback.on_epoch_end(1, {"val_loss": 0.4})
    assert seen == [(2, 2, {"val_loss": 0.4})]


def test_an_exception_from_the_hook_stops_the_fit_and_is_kept_for_fit_to_raise():
    from bertclf.training.callbacks import EpochHook, StopGuard

    def prune(epoch, last, logs):
        raise RuntimeError(f"pruned after {epoch}")

    callback = EpochHook(prune, StopGuard(steps_per_epoch=4))
    callback.model = types.SimpleNamespace(stop_training=False)
    callback.params = {"epochs": 3}
    callback.on_epoch_end(0, {})
    assert str(callback.raised) == "pruned after 1" and callback.model.stop_training
