"""TensorBoard logs of a run, in `RUN/tensorboard/`: `tensorboard --logdir runs` shows every run.

`train/` gets the training loss and learning rate every `every_steps` optimizer
steps and the training metrics per epoch; `validation/` gets every validation
metric per epoch (the scores `ValidationMetrics` computes, so the same numbers as
`history.json`); the resolved config is logged as text at the start. A resumed
run appends: its steps continue from the restored optimizer step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import tensorflow as tf
import tf_keras


class TensorBoardLog(tf_keras.callbacks.Callback):
    """Writes a run's scalars and config for TensorBoard.

    Keep it after `ValidationMetrics` (whose `val_*` scores it logs) and after
    `StopGuard` (an epoch cut short is not logged as an epoch).
    """

    def __init__(self, log_dir: Path, config_text: str, every_steps: int = 10, guard=None):
        super().__init__()
        self.log_dir = log_dir
        self.config_text = config_text
        self.every_steps = max(1, every_steps)
        self.guard = guard
        self._train = self._validation = None

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
            tf.summary.scalar("loss", float(logs["loss"]), step=step)
            tf.summary.scalar("learning_rate", self._learning_rate(step), step=step)

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        if not logs or (self.guard is not None and self.guard.epoch_cut_short):
            return
        for writer, prefix in ((self._train, ""), (self._validation, "val_")):
            with writer.as_default():
                for key, value in logs.items():
                    is_validation = key.startswith("val_")
                    if is_validation == bool(prefix):
                        tf.summary.scalar(f"epoch_{key[len(prefix):]}", float(value), step=epoch + 1)
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
