"""An independent NumPy forward pass of a Hugging Face BERT, written from its weights.

Used only by tests to check that converted encoders compute what the checkpoint
computes. Post-layer-norm BERT: embeddings -> L x (self-attention, add & norm,
feed-forward with exact GELU, add & norm) -> tanh pooler on [CLS].
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf as _erf  # independent of TensorFlow; vectorised for 512-token inputs


def _layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + eps) * gamma + beta


def _linear(x, weights, name):
    # PyTorch Linear: y = x W^T + b, W stored [out, in].
    return x @ weights[f"{name}.weight"].T + weights[f"{name}.bias"]


def bert_forward(weights: dict, config: dict, input_ids, input_mask, type_ids):
    """Returns (sequence_output [B, T, H], pooled_output [B, H]) in float64."""
    w = {k: v.astype(np.float64) for k, v in weights.items() if not k.endswith("position_ids")}
    eps = config.get("layer_norm_eps", 1e-12)
    heads = config["num_attention_heads"]
    input_ids, input_mask, type_ids = map(np.asarray, (input_ids, input_mask, type_ids))
    batch, length = input_ids.shape
    x = (w["embeddings.word_embeddings.weight"][input_ids]
         + w["embeddings.position_embeddings.weight"][np.arange(length)][None]
         + w["embeddings.token_type_embeddings.weight"][type_ids])
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    hidden = x.shape[-1]
    size = hidden // heads
    # Padding positions get -inf before the softmax, so they carry exactly zero weight.
    blocked = np.where(input_mask[:, None, None, :] > 0, 0.0, -np.inf)
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"

        def split(t):
            return t.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

        q = split(_linear(x, w, f"{p}.attention.self.query"))
        k = split(_linear(x, w, f"{p}.attention.self.key"))
        v = split(_linear(x, w, f"{p}.attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size) + blocked
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attention = scores / scores.sum(-1, keepdims=True)
        context = (attention @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        attended = _linear(context, w, f"{p}.attention.output.dense")
        x = _layer_norm(x + attended, w[f"{p}.attention.output.LayerNorm.weight"],
                        w[f"{p}.attention.output.LayerNorm.bias"], eps)
        inner = _linear(x, w, f"{p}.intermediate.dense")
        inner = 0.5 * inner * (1.0 + _erf(inner / math.sqrt(2.0)))
        x = _layer_norm(x + _linear(inner, w, f"{p}.output.dense"), w[f"{p}.output.LayerNorm.weight"],
                        w[f"{p}.output.LayerNorm.bias"], eps)
    pooled = np.tanh(_linear(x[:, 0], w, "pooler.dense"))
    return x, pooled
