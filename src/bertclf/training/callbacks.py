"""Keras callbacks: validation metrics and the best epoch, divergence, and checkpoints."""

from __future__ import annotations

import contextlib
import math
import signal
import time
from typing import Optional, Sequence

import numpy as np
import tf_keras

from bertclf.progress import Progress
from bertclf.runtime import signals
from bertclf.task import MAXIMISED_MONITORS as _MAXIMISED
from bertclf.task import ClassificationTask
from bertclf.training.pipeline import EncodedSplit, predict_logits


class ValidationMetrics(tf_keras.callbacks.Callback):
    """Scores the validation set after each epoch, tracks the best epoch, stops early.

    One pass over the validation data gives loss, accuracy, macro F1 and, for
    binary tasks, ROC-AUC and PR-AUC, computed exactly as `bertclf evaluate`
    computes them. They go into the epoch's logs (so into the history, the
    progress line and later callbacks) as `val_*`. `state()` and `load_state()`
    carry the best score and the early-stopping counter across a resume.
    """

    def __init__(self, encoded: EncodedSplit, class_names: Sequence[str], monitor: str, batch_size: int,
                 bucketing: bool = True, patience: Optional[int] = None, guard: Optional["StopGuard"] = None,
                 scorer=None, task=None):
        super().__init__()
        # Under a distribution strategy, an undistributed twin of the model scores: it gets the
        # trained weights each epoch, so scoring runs here alone, never across replicas or workers.
        self.scorer = scorer
        self.guard = guard
        self.encoded = encoded
        self.class_names = list(class_names)
        # The task scores (one label per text by default; bertclf.multilabel_task for label sets).
        self.task = task if task is not None else ClassificationTask(len(self.class_names))
        self.monitor = monitor
        self.batch_size = batch_size
        self.bucketing = bucketing
        self.patience = patience
        self.best_epoch: Optional[int] = None
        self.best_score: Optional[float] = None
        self.best_metrics: Optional[dict] = None
        # The best epoch's validation probabilities, when it was scored in this session (not
        # kept across a resume): what the decision threshold is chosen on, without scoring again.
        self.best_probabilities: Optional[np.ndarray] = None
        self.epochs_without_improvement = 0
        self.improved = False  # whether the epoch that just ended is the new best
        self.seconds = 0.0  # spent scoring, in this session (the run's timing shows it apart from fit)

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        logs = logs if logs is not None else {}
        self.improved = False
        if not all_finite(logs) or (self.guard is not None and self.guard.epoch_cut_short):
            return  # diverged or interrupted mid-epoch: the weights are not worth scoring
        model = self.model
        if self.scorer is not None:
            self.scorer.set_weights(self.model.get_weights())
            model = self.scorer
        started = time.perf_counter()
        logits = predict_logits(model, self.encoded, self.batch_size, self.bucketing,
                                progress=f"Validation after epoch {epoch + 1}")
        # Windowed validation: per text, aggregated as the exported model aggregates.
        probabilities = self.encoded.text_probabilities(self.task.probabilities(logits).numpy(),
                                                        self.task.multi_label)
        self.seconds += time.perf_counter() - started
        scores, validation_logs = self.task.validation_scores(self.encoded.text_labels.tolist(), probabilities,
                                                              self.class_names)
        logs.update(validation_logs)
        score = logs.get(self.monitor)
        if score is not None and not math.isnan(score) and (
                self.best_score is None or (score > self.best_score if self.monitor in _MAXIMISED
                                            else score < self.best_score)):
            self.best_epoch, self.best_score, self.best_metrics = epoch + 1, float(score), scores
            self.best_probabilities = probabilities
            self.epochs_without_improvement = 0
            self.improved = True
        else:
            self.epochs_without_improvement += 1
        if self.patience is not None and self.epochs_without_improvement >= self.patience:
            self.model.stop_training = True

    def state(self) -> dict:
        """What a resumed run needs to continue best-epoch tracking and early stopping."""
        return {"best_epoch": self.best_epoch, "best_score": self.best_score,
                "best_metrics": self.best_metrics,
                "epochs_without_improvement": self.epochs_without_improvement}

    def load_state(self, state: dict) -> None:
        """Restores what `state()` returned."""
        self.best_epoch = state["best_epoch"]
        self.best_score = state["best_score"]
        self.best_metrics = state["best_metrics"]
        self.epochs_without_improvement = state["epochs_without_improvement"]

    @property
    def stopped_early(self) -> bool:
        """Whether patience ran out."""
        return self.patience is not None and self.epochs_without_improvement >= self.patience


class StopGuard(tf_keras.callbacks.Callback):
    """Stops training cleanly on a NaN/inf loss, Ctrl-C or SIGTERM, and says whether the epoch was whole.

    A stop signal only sets a flag that is checked after every step: a KeyboardInterrupt
    raised at an arbitrary point can land inside TensorFlow's own Python (a
    tf.data generator, a callback) and be lost. A second signal interrupts at once.
    Callbacks after this one skip scoring and checkpointing an epoch cut short.
    SIGTERM (docker stop, Kubernetes, batch schedulers) is handled as Ctrl-C is
    (`bertclf.runtime.signals`); `signum` says which one came.
    """

    def __init__(self, steps_per_epoch: int):
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.diverged_at: Optional[tuple[int, int]] = None  # (epoch, step), both from 1
        self.interrupted = False
        self.signum = signal.SIGINT
        self.epoch_cut_short = False
        self._epoch = 0
        self._handlers: Optional[contextlib.AbstractContextManager] = None

    def on_train_begin(self, logs: Optional[dict] = None) -> None:
        self._handlers = signals.handled(self._request_stop)
        self._handlers.__enter__()

    def on_train_end(self, logs: Optional[dict] = None) -> None:
        self.restore_handlers()

    def restore_handlers(self) -> None:
        """Puts back the signal handlers of before the fit (idempotent; `fit` calls it on errors too)."""
        if self._handlers is not None:
            handlers, self._handlers = self._handlers, None
            handlers.__exit__(None, None, None)

    def on_epoch_begin(self, epoch: int, logs: Optional[dict] = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        if self.model.stop_training:
            return
        if logs and not all_finite({"loss": logs.get("loss", 0.0)}):
            self.diverged_at = (self._epoch + 1, batch + 1)
            self.epoch_cut_short = True  # even on its last step: the epoch's weights are bad
            self.model.stop_training = True
        elif self.interrupted:
            self.epoch_cut_short = batch + 1 < self.steps_per_epoch
            self.model.stop_training = True

    def _request_stop(self, signum, frame) -> None:
        signals.note(signum)
        self.interrupted, self.signum = True, signum
        if signals.can_handle():
            for stop in signals.STOP_SIGNALS:  # a second signal stops at once
                signal.signal(stop, signals.raise_interrupt)


def all_finite(logs: dict) -> bool:
    """Whether every numeric value in an epoch's logs is finite."""
    return all(math.isfinite(float(value)) for value in logs.values()
               if isinstance(value, (int, float)) or hasattr(value, "__float__"))


class FitProgress(tf_keras.callbacks.Callback):
    """Progress inside each epoch where stderr is not a terminal: Keras then prints one line per
    epoch, which left minutes of silence in logs. A line at least every 15 s (bertclf.progress)."""

    def __init__(self, epochs: int, steps: int):
        super().__init__()
        self.epochs, self.steps = epochs, steps
        self._loss: Optional[float] = None
        self._progress: Optional[Progress] = None

    def on_epoch_begin(self, epoch: int, logs: Optional[dict] = None) -> None:
        self._loss = None
        self._progress = Progress(f"Epoch {epoch + 1}/{self.epochs}", self.steps, "steps",
                                  detail=lambda: f"loss {self._loss:.4f}" if self._loss is not None else "")

    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        if logs and "loss" in logs:
            self._loss = float(logs["loss"])
        if self._progress is not None:
            self._progress.advance(1)

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None


class EpochHook(tf_keras.callbacks.Callback):
    """Calls `hook(epoch, epochs, logs)` after each whole epoch is scored and saved (it goes after the
    checkpoint callback). If the hook raises, training stops there and `raised` holds the
    exception for `fit` to re-raise once Keras has closed the fit (signal handlers restored):
    a sweep prunes a trial this way."""

    def __init__(self, hook, guard: StopGuard):
        super().__init__()
        self.hook, self.guard = hook, guard
        self.raised: Optional[BaseException] = None

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        if self.guard.epoch_cut_short or self.raised is not None:
            return
        try:
            # Early stopping (set by an earlier callback) makes this epoch the fit's last.
            last = epoch + 1 if self.model.stop_training else int(self.params.get("epochs") or epoch + 1)
            self.hook(epoch + 1, last, dict(logs or {}))
        except Exception as error:  # re-raised by fit, after Keras ends the fit cleanly
            self.raised = error
            self.model.stop_training = True
