"""TensorBoard logs of a run, in `RUN/tensorboard/`: `tensorboard --logdir runs` shows every run.

`train/` gets the training loss and accuracy every `every_steps` optimizer steps, each the
mean over those steps (not Keras' running mean since the epoch began), and the learning
rate; `validation/` gets every validation metric after each epoch, under the same tags at
the optimizer step the epoch ended, so TensorBoard draws training and validation on one
step axis (and as `epoch_*` by epoch, the same numbers as `history.json`); the resolved
config is logged as text at the start. A resumed run appends: its steps continue from the
restored optimizer step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import tensorflow as tf
import tf_keras

from bertclf.training.curves import IntervalMeans


class TensorBoardLog(tf_keras.callbacks.Callback):
    """Writes a run's scalars and config for TensorBoard.

    Keep it after `ValidationMetrics` (whose `val_*` scores it logs) and after
    `StopGuard` (an epoch cut short is not logged as an epoch).
    """

    def __init__(self, log_dir: Path, config_text: str, every_steps: int = 10, guard=None, batch_size: int = 0):
        super().__init__()
        self.log_dir = log_dir
        self.config_text = config_text
        self.every_steps = max(1, every_steps)
        self.guard = guard
        self.batch_size = batch_size
        self._train = self._validation = None
        self._means = IntervalMeans()

    def on_epoch_begin(self, epoch: int, logs: Optional[dict] = None) -> None:
        self._means.reset()

    def on_train_begin(self, logs: Optional[dict] = None) -> None:
        self._train = tf.summary.create_file_writer(str(self.log_dir / "train"))
        self._validation = tf.summary.create_file_writer(str(self.log_dir / "validation"))
        with self._train.as_default():
            # Indented by four spaces: TensorBoard renders text as Markdown, and YAML is code.
            tf.summary.text("config", "\n".join("    " + line for line in self.config_text.splitlines()),
                            step=self._step())

    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        step = self._step()
        if step % self.every_steps or not logs or "loss" not in logs:
            return
        with self._train.as_default():
            for key, value in self._means.take(batch, logs).items():
                tf.summary.scalar(key, value, step=step)
            tf.summary.scalar("learning_rate", self._learning_rate(step), step=step)
            if self.batch_size:
                tf.summary.scalar("examples_seen", step * self.batch_size, step=step)

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        if not logs or (self.guard is not None and self.guard.epoch_cut_short):
            return
        for writer, prefix in ((self._train, ""), (self._validation, "val_")):
            with writer.as_default():
                for key, value in logs.items():
                    is_validation = key.startswith("val_")
                    if is_validation == bool(prefix):
                        tf.summary.scalar(f"epoch_{key[len(prefix):]}", float(value), step=epoch + 1)
                        if is_validation:  # beside the training points, at the step the epoch ended
                            tf.summary.scalar(key[len(prefix):], float(value), step=self._step())
            writer.flush()

    def on_train_end(self, logs: Optional[dict] = None) -> None:
        for writer in (self._train, self._validation):
            if writer is not None:
                writer.close()

    def _step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def _learning_rate(self, step: int) -> float:
        rate = self.model.optimizer.learning_rate
        if callable(rate):  # a schedule (bertclf's always is)
            rate = rate(step)
        return float(tf.convert_to_tensor(rate))
