"""Long texts as windows: which token spans a text is scored on, and how the windows' predictions
become one per text.

One rule for the TensorFlow graph (`encoders.tokenization`, inside the exported SavedModel),
training's scoring and the ONNX runtime (`serving.onnx_tokenizer`). No TensorFlow here.

A text of `length` tokens is cut into windows of `size` tokens whose starts are `stride`
apart, the last one ending at the text's end; a text of at most `size` tokens is one window.
When a text has more than `max_windows` windows, that many are kept, evenly spaced, the first
and the last among them. Windows of a text each repeat its first `leading` tokens (an
encoder's text prefix, such as e5's "query: "), so every window is read as the model was
trained to read a text.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

# How window probabilities become a text's: their mean; the window whose prediction is the most
# confident (its top probability the highest; label sets: each label's highest probability); or
# a mean weighted by each window's number of tokens (a short last window counts less).
AGGREGATIONS = ("mean", "max", "weighted")


@dataclasses.dataclass(frozen=True)
class Windowing:
    """How a run cuts long texts into windows and aggregates them (its model.* settings)."""

    stride: int
    max_windows: int
    aggregation: str = "mean"
    leading: int = 0  # tokens of the encoder's text prefix, repeated in every window
    random_window: bool = False  # training: one window per text and epoch (train.windows: random)

    @classmethod
    def of(cls, model, leading: int = 0) -> "Windowing":
        """A run's windows from its `ModelConfig` (stride, max_windows, window_aggregation)."""
        return cls(model.stride, model.max_windows, model.window_aggregation, leading)


def window_count(length: int, size: int, stride: int) -> int:
    """How many windows cover a text of `length` tokens before `max_windows` caps them."""
    if length <= size:
        return 1
    return -(-(length - size) // stride) + 1


def picked_windows(count: int, max_windows: int) -> list[int]:
    """Which of a text's `count` windows are kept: all, or `max_windows` evenly spaced, first and last kept.

    The j-th kept window is window round(j * (count - 1) / (max_windows - 1)), rounding halves
    up, in integers so that the graph computes exactly the same.
    """
    if count <= max_windows:
        return list(range(count))
    if max_windows == 1:
        return [0]
    return [(2 * j * (count - 1) + max_windows - 1) // (2 * (max_windows - 1)) for j in range(max_windows)]


def window_spans(length: int, size: int, stride: int, max_windows: int, leading: int = 0) -> list[tuple[int, int]]:
    """The (start, end) token spans of a text's windows, after its `leading` tokens.

    Args:
        length: The text's tokens, special tokens excluded (its leading tokens included).
        size: Tokens per window, the leading tokens included.
        stride: Tokens between the starts of two windows.
        max_windows: Most windows a text is scored on.
        leading: Tokens every window repeats from the text's start (not part of the spans).
    """
    lead = min(leading, length)
    body, content = length - lead, size - leading
    last = max(body - content, 0)
    count = window_count(body, content, stride)
    return [(lead + min(i * stride, last), lead + min(i * stride, last) + min(content, body))
            for i in picked_windows(count, max_windows)]


def aggregate(probabilities: np.ndarray, documents: np.ndarray, count: int, how: str = "mean",
              tokens: Optional[np.ndarray] = None, multi_label: bool = False) -> np.ndarray:
    """The probabilities of `count` texts from those of their windows.

    Args:
        probabilities: float [windows, classes], each window's probabilities.
        documents: int [windows], the text each window belongs to (0 .. count - 1, each at least once).
        count: How many texts.
        how: One of AGGREGATIONS.
        tokens: int [windows], each window's tokens (`weighted` needs it).
        multi_label: Sigmoid outputs, one per label: `max` then takes each label's highest.

    Returns:
        float32 [count, classes].
    """
    probabilities = np.asarray(probabilities, np.float32)
    documents = np.asarray(documents, np.int64)
    width = probabilities.shape[1]
    if how == "max":
        if multi_label:
            result = np.full((count, width), -np.inf, np.float32)
            np.maximum.at(result, documents, probabilities)
            return result
        confidence = probabilities.max(axis=1)
        best = np.full(count, -np.inf, np.float32)
        np.maximum.at(best, documents, confidence)
        # The first window of each text that reaches its best confidence.
        chosen = np.full(count, len(documents), np.int64)
        np.minimum.at(chosen, documents, np.where(confidence == best[documents], np.arange(len(documents)),
                                                  len(documents)))
        return probabilities[chosen]
    if how == "weighted":
        if tokens is None:
            raise ValueError("weighted aggregation needs each window's tokens")
        weights = np.asarray(tokens, np.float32)
    elif how == "mean":
        weights = np.ones(len(documents), np.float32)
    else:
        raise ValueError(f"unknown aggregation {how!r}; one of {AGGREGATIONS}")
    total = np.zeros((count, width), np.float32)
    np.add.at(total, documents, probabilities * weights[:, None])
    norm = np.zeros(count, np.float32)
    np.add.at(norm, documents, weights)
    return total / norm[:, None]
