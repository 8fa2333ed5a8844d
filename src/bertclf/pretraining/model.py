"""The masked-LM model: tf-models-official's `BertPretrainerV2` around a native `BertEncoder`.

`MaskedLMModel` computes BERT's loss, the mean cross-entropy over the chosen
positions only, itself (Keras' weighted losses divide by every slot,
padding included), and tracks it per predicted token so that a held-out score
is the mean over all held-out predictions, not a mean of batch means.
"""

from __future__ import annotations

import re
import sys
import time
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import tensorflow as tf
import tf_keras

from bertclf import artifacts, files
from bertclf.errors import TrainingDiverged


class MaskedLMModel(tf_keras.Model):
    """Encoder inputs plus `masked_lm_positions` in; float32 masked-LM logits out."""

    def __init__(self, pretrainer, **kwargs):
        super().__init__(**kwargs)
        self.pretrainer = pretrainer
        self.loss_tracker = tf_keras.metrics.Mean(name="loss")
        self.accuracy_tracker = tf_keras.metrics.Mean(name="accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    @property
    def encoder(self):
        """The `BertEncoder` being pretrained."""
        return self.pretrainer.encoder_network

    def call(self, features, training=False):
        return tf.cast(self.pretrainer(features, training=training)["mlm_logits"], tf.float32)

    def _score(self, batch, training: bool):
        features, labels, weights = batch
        logits = self(features, training=training)
        losses = tf_keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        loss = tf.reduce_sum(losses * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)
        correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=labels.dtype), labels), tf.float32)
        return loss, losses, correct, weights

    def _track(self, losses, correct, weights) -> dict:
        self.loss_tracker.update_state(losses, sample_weight=weights)
        self.accuracy_tracker.update_state(correct, sample_weight=weights)
        return {"loss": self.loss_tracker.result(), "accuracy": self.accuracy_tracker.result()}

    def train_step(self, batch):
        scaled = isinstance(self.optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
        with tf.GradientTape() as tape:
            loss, losses, correct, weights = self._score(batch, training=True)
            objective = self.optimizer.get_scaled_loss(loss) if scaled else loss
        gradients = tape.gradient(objective, self.trainable_variables)
        if scaled:
            gradients = self.optimizer.get_unscaled_gradients(gradients)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return self._track(losses, correct, weights)

    def test_step(self, batch):
        _, losses, correct, weights = self._score(batch, training=False)
        return self._track(losses, correct, weights)


def build_pretrainer(native) -> MaskedLMModel:
    """A masked-LM model over a native rebuild of the encoder, in the current Keras policy.

    The MaskedLM head (dense transform, layer norm, output bias; the output
    weights are the word embeddings) starts from BERT's initialisation: encoder
    folders keep no MLM head.
    """
    from official.modeling import tf_utils
    from official.nlp.modeling import models

    from bertclf.encoders.native import build_native_encoder

    encoder = build_native_encoder(native)
    # BertPretrainerV2 hands the encoder its own inputs, masked_lm_positions included, which
    # the encoder ignores, as it should; Keras warns about it on every trace.
    warnings.filterwarnings("ignore", message="Input dict contained keys \\['masked_lm_positions'\\]")
    pretrainer = models.BertPretrainerV2(
        encoder_network=encoder, mlm_activation=tf_utils.get_activation(native.activation),
        mlm_initializer=tf_keras.initializers.TruncatedNormal(stddev=0.02))
    return MaskedLMModel(pretrainer, name="masked_lm")


def encoder_weights(model: MaskedLMModel) -> dict[str, np.ndarray]:
    """The encoder's weights by variable name, as `NativeEncoderWeights` holds them (float32)."""
    return {re.sub(r":\d+$", "", weight.name): np.asarray(weight.numpy(), dtype=np.float32)
            for weight in model.encoder.weights}


class PretrainKeeper(tf_keras.callbacks.Callback):
    """Stops at the step or time budget; after each chunk of steps, records and checkpoints.

    Args:
        manager: The `tf.train.CheckpointManager` of model and optimizer.
        run_dir: The run folder (history and resume state go there).
        history: Entries so far; each chunk appends one.
        total_steps: `pretrain.steps`.
        budget: Seconds this session may train (None: no limit).
        seconds_before: Training seconds of earlier sessions (resumed runs).
    """

    def __init__(self, manager, run_dir: Path, history: list, total_steps: int, budget: Optional[float],
                 seconds_before: float):
        super().__init__()
        self.manager, self.run_dir, self.history = manager, run_dir, history
        self.total_steps, self.budget, self.seconds_before = total_steps, budget, seconds_before
        self.out_of_time = False
        self.saved_steps = history[-1]["step"] if history else 0
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        loss = float((logs or {}).get("loss", 0.0))
        if not np.isfinite(loss):
            raise TrainingDiverged(f"pretraining diverged at step {self.step:,} (loss {loss}); lower "
                                   f"pretrain.learning_rate; resume from step {self.saved_steps:,} with --resume")
        if self.step >= self.total_steps:
            self.model.stop_training = True
        elif self.budget is not None and time.perf_counter() - self.started >= self.budget:
            self.out_of_time = self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        seconds = self.seconds_before + time.perf_counter() - self.started
        self.history.append(history_entry(self.step, logs, {"loss": logs["val_loss"],
                                                            "accuracy": logs["val_accuracy"]}, seconds))
        saved = Path(self.manager.save(checkpoint_number=self.step)).name
        # The state file goes last and names the checkpoint it belongs to: resuming restores that
        # one, so a run stopped between the two writes resumes from the previous, whole pair.
        files.write_json_atomic(self.run_dir / artifacts.PRETRAIN_HISTORY_FILE, self.history)
        files.write_json_atomic(self.run_dir / artifacts.CHECKPOINT_DIR / artifacts.PRETRAIN_STATE_FILE,
                                {"steps": self.step, "checkpoint": saved, "seconds": seconds,
                                 "history": self.history})
        self.saved_steps = self.step
        # Printed once saved: a run stopped after this line resumes from this step.
        print(f"step {self.step:,}/{self.total_steps:,}: loss {logs['loss']:.4f}, held-out loss "
              f"{logs['val_loss']:.4f} (accuracy {logs['val_accuracy']:.3f}), {seconds:.0f} s; checkpointed",
              file=sys.stderr, flush=True)

    @property
    def step(self) -> int:
        """Optimizer steps taken, over every session of the run."""
        return int(self.model.optimizer.iterations.numpy())


def history_entry(step: int, logs: Optional[dict], scored: dict, seconds: float) -> dict:
    """One line of pretrain_history.json: train loss over the last chunk (None at step 0), held-out scores."""
    return {"step": int(step), "loss": None if logs is None else float(logs["loss"]),
            "accuracy": None if logs is None else float(logs["accuracy"]),
            "held_out_loss": float(scored["loss"]), "held_out_accuracy": float(scored["accuracy"]),
            "seconds": round(seconds, 2)}
