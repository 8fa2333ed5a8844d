"""The fine-tuning optimizer: its learning-rate shape and which weights it decays."""

from __future__ import annotations

import numpy as np
import pytest

from bertclf.config import TrainConfig


def test_learning_rate_warms_up_linearly_then_decays_linearly_to_zero():
    from bertclf.training.optimizer import build_optimizer

    optimizer = build_optimizer(TrainConfig(learning_rate=1e-3, warmup_fraction=0.1), total_steps=100)
    rate = [float(optimizer.learning_rate(step)) for step in (0, 5, 10, 55, 100)]
    # Warmup: step / 10 of the peak; then PolynomialDecay (power 1) over all 100 steps from the peak.
    assert rate == pytest.approx([0.0, 5e-4, 1e-3 * (1 - 10 / 100), 1e-3 * (1 - 55 / 100), 0.0], abs=1e-9)
    no_warmup = build_optimizer(TrainConfig(learning_rate=1e-3, warmup_fraction=0.0), total_steps=100)
    assert float(no_warmup.learning_rate(0)) == pytest.approx(1e-3)


def test_weight_decay_spares_layer_norm_and_biases():
    import tensorflow as tf

    from bertclf.training.optimizer import build_optimizer

    variables = {name: tf.Variable(np.ones(3, np.float32), name=name)
                 for name in ("dense/kernel", "dense/bias", "LayerNorm/gamma", "attention/layer_norm/beta")}
    optimizer = build_optimizer(TrainConfig(learning_rate=0.1, warmup_fraction=0.0, weight_decay=0.5),
                                total_steps=10)
    # A zero gradient: Adam's update is 0, so whatever moves is the decoupled weight decay alone.
    optimizer.apply_gradients([(tf.zeros(3), variable) for variable in variables.values()])
    moved = {name: not np.allclose(variable.numpy(), 1.0) for name, variable in variables.items()}
    assert moved == {"dense/kernel": True, "dense/bias": False, "LayerNorm/gamma": False,
                     "attention/layer_norm/beta": False}
    # decay: w -= lr * rate * w = 1 - 0.1 * 0.5
    assert variables["dense/kernel"].numpy() == pytest.approx(np.full(3, 0.95))
