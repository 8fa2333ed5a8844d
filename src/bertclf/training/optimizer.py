"""The fine-tuning optimizer: AdamW with linear warmup and decay, the same on one device or many."""

from __future__ import annotations

import tensorflow as tf
import tf_keras
from official.nlp import optimization

from bertclf.config import TrainConfig


class AdamWeightDecay(optimization.AdamWeightDecay):
    """tf-models-official's AdamW, clipping the gradient's global norm after replicas are summed.

    The original clips each replica's gradient before the all-reduce (to keep
    TF1's math), so N replicas take a different step than one device on the same
    global batch. Summing first, then clipping, makes the step the same whatever
    the number of replicas; on one device nothing changes.
    """

    def apply_gradients(self, grads_and_vars, name=None, experimental_aggregate_gradients=True):
        grads_and_vars = list(grads_and_vars)
        if experimental_aggregate_gradients:
            grads_and_vars = self._aggregate_gradients(grads_and_vars)
        grads, variables = list(zip(*grads_and_vars))
        if self.gradient_clip_norm > 0.0:
            grads, _ = tf.clip_by_global_norm(grads, clip_norm=self.gradient_clip_norm)
        # Past the parent's per-replica clipping, to Adam's update; the sum is already taken.
        return tf_keras.optimizers.legacy.Adam.apply_gradients(
            self, zip(grads, variables), name=name, experimental_aggregate_gradients=False)


def build_optimizer(train: TrainConfig, total_steps: int) -> AdamWeightDecay:
    """AdamW (decoupled weight decay) with linear warmup, then linear decay to zero.

    This is `official.nlp.optimization.create_optimizer`'s recipe, built from its
    parts because `create_optimizer` fixes the weight decay at 0.01.
    """
    schedule = tf_keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=train.learning_rate, decay_steps=total_steps, end_learning_rate=0.0)
    warmup_steps = int(train.warmup_fraction * total_steps)
    if warmup_steps:
        schedule = optimization.WarmUp(initial_learning_rate=train.learning_rate,
                                       decay_schedule_fn=schedule, warmup_steps=warmup_steps)
    return AdamWeightDecay(
        learning_rate=schedule, weight_decay_rate=train.weight_decay, beta_1=0.9, beta_2=0.999,
        epsilon=1e-6, exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"])


def create_slots(model: tf_keras.Model) -> None:
    """Creates the compiled model's optimizer variables (AdamW's moments, its step count) now.

    Keras creates them inside the first traced training step, and a tf.function whose first
    trace creates variables traces the whole step a second time without them: MiniLM's forward
    and backward graph built twice, once per run and once per budget measurement. Call it in
    the strategy's scope, after `compile`.
    """
    # Keras's own (private) entry: apply_gradients calls it on the first step (tf_keras 2.20;
    # a LossScaleOptimizer passes it to the optimizer it wraps).
    model.optimizer._create_all_weights(model.trainable_variables)
