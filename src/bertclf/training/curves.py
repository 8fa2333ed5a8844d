"""The training curve by steps: what a run under a time budget (often one epoch) can show.

Per-epoch history gives such a run one training point and one validation point. `StepCurve`
records the training loss and accuracy every few optimizer steps, each point the mean over the
steps since the previous one (not Keras' running mean since the epoch began, which flattens
the curve), with the examples seen so far; and each epoch's validation scores at the step it
ended. The curve goes into the checkpoint state (a resumed run keeps the points of its saved
epochs and redoes the rest), `history_steps.json` and the history plot, and TensorBoard logs
the same points on the same step axis.
"""

from __future__ import annotations

import math
from typing import Optional

import tf_keras

# About this many training points per run: enough for a curve, few enough to read in a table.
_TARGET_POINTS = 200


def points_interval(total_steps: int) -> int:
    """Steps between two training points, so a run of `total_steps` gets about 200."""
    return max(1, math.ceil(total_steps / _TARGET_POINTS))


class IntervalMeans:
    """Means of the loss and accuracy over the steps since the last `take`, from Keras' logs,
    which hold means since the epoch began (their sums recover the mean of the last steps)."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """At an epoch's start, where Keras' means start again."""
        self._since: tuple[int, float, float] = (0, 0.0, 0.0)  # batches, loss sum, accuracy sum

    def take(self, batch: int, logs: dict) -> dict:
        """`{"loss": ..., "accuracy": ...}` over the steps since the last call (batch: 0-based in its epoch)."""
        done = batch + 1
        sums = (done * float(logs["loss"]), done * float(logs.get("accuracy", math.nan)))
        batches, loss_before, accuracy_before = self._since
        span = max(1, done - batches)
        means = {"loss": (sums[0] - loss_before) / span}
        if "accuracy" in logs:
            means["accuracy"] = (sums[1] - accuracy_before) / span
        self._since = (done, *sums)
        return means


class StepCurve(tf_keras.callbacks.Callback):
    """Records `{"train": [...], "validation": [...]}` points (see the module docstring).

    Keep it after `ValidationMetrics` (whose `val_*` scores it records) and `StopGuard`, and
    before the checkpoint callback, which saves `curve` with each epoch.

    Args:
        batch_size: The global batch (examples per optimizer step).
        every: Steps between training points.
        guard: The run's `StopGuard` (an epoch cut short adds no validation point).
        curve: The curve of a resumed run's saved epochs.
    """

    def __init__(self, batch_size: int, every: int, guard=None, curve: Optional[dict] = None):
        super().__init__()
        self.batch_size, self.every, self.guard = batch_size, max(1, every), guard
        curve = curve or {}
        self.curve = {"train": list(curve.get("train", [])), "validation": list(curve.get("validation", []))}
        self._means = IntervalMeans()

    def on_epoch_begin(self, epoch: int, logs: Optional[dict] = None) -> None:
        self._means.reset()

    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        step = int(self.model.optimizer.iterations.numpy())
        if step % self.every or not logs or "loss" not in logs:
            return
        point = {"step": step, "examples": step * self.batch_size, **self._means.take(batch, logs)}
        if all(math.isfinite(value) for value in point.values()):
            self.curve["train"].append(point)

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        if not logs or (self.guard is not None and self.guard.epoch_cut_short):
            return
        step = int(self.model.optimizer.iterations.numpy())
        scores = {key[len("val_"):]: float(value) for key, value in logs.items() if key.startswith("val_")}
        self.curve["validation"].append({"epoch": epoch + 1, "step": step, "examples": step * self.batch_size,
                                         **scores})

    def saved(self, epochs_completed: int) -> dict:
        """The curve up to the end of epoch `epochs_completed` (what a checkpoint keeps)."""
        validation = [point for point in self.curve["validation"] if point["epoch"] <= epochs_completed]
        last_step = validation[-1]["step"] if validation else 0
        return {"train": [point for point in self.curve["train"] if point["step"] <= last_step],
                "validation": validation}
