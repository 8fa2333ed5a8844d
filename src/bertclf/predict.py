"""Predictions from a run's exported SavedModel (never from training code)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from bertclf import artifacts
from bertclf.errors import RunError

_BATCH_SIZE = 64


class Predictor:
    """A run's exported model and class names, loaded once."""

    def __init__(self, run_dir: Path):
        from bertclf.runtime import setup_tensorflow

        tf = setup_tensorflow()
        import tensorflow_text  # noqa: F401  (registers the tokenizer ops the SavedModel uses)

        self.run_dir = run_dir
        self.class_names = artifacts.read_labels(run_dir)
        try:
            loaded = tf.saved_model.load(str(run_dir / artifacts.MODEL_DIR))
            self._serve = loaded.signatures["serving_default"]
        except (OSError, ValueError, KeyError) as error:
            raise RunError(f"{run_dir / artifacts.MODEL_DIR}: cannot load the exported model "
                           f"({str(error).splitlines()[0]})") from None
        self._tf = tf

    def probabilities(self, texts: Sequence[str], batch_size: int = _BATCH_SIZE) -> np.ndarray:
        """Class probabilities, shape [len(texts), num_classes]."""
        chunks = [self._serve(texts=self._tf.constant(list(texts[i:i + batch_size])))["probabilities"].numpy()
                  for i in range(0, len(texts), batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.class_names)), np.float32)

    def predict(self, texts: Sequence[str], top_k: int = 1) -> list[dict]:
        """Per text: the best label, its probability, the top-k and all probabilities."""
        results = []
        for text, row in zip(texts, self.probabilities(texts)):
            order = np.argsort(-row)[: max(1, top_k)]
            results.append({
                "text": text,
                "label": self.class_names[order[0]],
                "probability": float(row[order[0]]),
                "top": [{"label": self.class_names[i], "probability": float(row[i])} for i in order],
                "probabilities": {name: float(p) for name, p in zip(self.class_names, row)},
            })
        return results
