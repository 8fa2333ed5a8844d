"""Predictions from a run's exported SavedModel (never from training code)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from bertclf import artifacts
from bertclf.encoders.windows import aggregate
from bertclf.errors import DataError, RunError
from bertclf.serving.loaded_models import load_exported
from bertclf.serving.predictions import BATCH_SIZE, BasePredictor


class Predictor(BasePredictor):
    """A run's exported SavedModel and class names, loaded once (TensorFlow)."""

    def __init__(self, run_dir: Path, long_text: Optional[str] = None):
        from bertclf.runtime.tf_setup import absorb_first_run_notices, setup_tensorflow

        tf = setup_tensorflow()
        absorb_first_run_notices(tf)
        import tensorflow_text  # noqa: F401  (registers the tokenizer ops the SavedModel uses)

        self.run_dir = run_dir
        self.class_names = artifacts.read_labels(run_dir)
        try:
            loaded = load_exported(tf, run_dir / artifacts.MODEL_DIR)
            self._serve = loaded.signatures["serving_default"]
            self._windows = None
            if long_text is not None:
                self.long_text = long_text
                if long_text not in loaded.signatures:
                    raise RunError(f"--long-text {long_text}: {run_dir}'s model has no {long_text!r} signature "
                                   f"(sentence-pair models, and models exported before bertclf read long texts "
                                   f"as windows, have only their own reading)")
                if long_text == "windows":
                    self._windows = loaded.signatures["windows"]
                else:
                    self._serve = loaded.signatures["truncate"]
            # Binary models exported since train.threshold existed carry their decision threshold;
            # multi-label models one threshold per label.
            threshold = getattr(loaded, "threshold", None)
            thresholds = getattr(loaded, "thresholds", None)
            self.multi_label = thresholds is not None
            self.threshold = ([float(t) for t in thresholds.numpy()] if self.multi_label
                              else float(threshold.numpy()) if threshold is not None else None)
        except (OSError, ValueError, KeyError) as error:
            raise RunError(f"{run_dir / artifacts.MODEL_DIR}: cannot load the exported model "
                           f"({str(error).splitlines()[0]})") from None
        self._tf = tf

    @property
    def takes_pairs(self) -> bool:
        """Whether the model classifies text pairs (a `text_pairs` input)."""
        return "text_pairs" in self._serve.structured_input_signature[1]

    def probabilities(self, texts: Sequence[str], pairs: Optional[Sequence[str]] = None,
                      batch_size: int = BATCH_SIZE, progress: Optional[str] = "Scoring") -> np.ndarray:
        """Class probabilities, shape [len(texts), num_classes].

        Args:
            texts: The texts (first texts, for a pair model).
            pairs: The second texts of a pair model.
            batch_size: Texts per model call.
            progress: The label of the progress bar or lines (long inputs only); None for none.

        Raises:
            DataError: A pair model got no second texts.
        """
        from bertclf.progress import Progress

        if self.takes_pairs and pairs is None:
            raise DataError("this model classifies text pairs; give each input as first<TAB>second")
        # Texts of similar length share a batch: the model pads a batch only as far as its
        # longest text needs. Character length is a cheap stand-in for token length.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]) + (len(pairs[i]) if pairs else 0))
        result = np.zeros((len(texts), len(self.class_names)), np.float32)
        self.window_outputs = [] if self._windows is not None else None
        self.text_tokens = np.zeros(len(texts), np.int64)
        with Progress(progress, len(texts), "texts") as shown:
            for start in range(0, len(order), batch_size):
                chosen = order[start:start + batch_size]
                inputs = {"texts": self._tf.constant([texts[i] for i in chosen])}
                if self.takes_pairs:
                    inputs["text_pairs"] = self._tf.constant([pairs[i] for i in chosen])
                if self._windows is not None:
                    outputs = self._windows(**inputs)
                    result[chosen] = self._aggregated(outputs, chosen)
                else:
                    outputs = self._serve(**inputs)
                    result[chosen] = outputs["probabilities"].numpy()
                if self.text_tokens is not None and "text_tokens" in outputs:
                    self.text_tokens[chosen] = outputs["text_tokens"].numpy()
                else:  # a model exported before it: evaluate leaves by_length out
                    self.text_tokens = None
                shown.advance(len(chosen))
        return result

    def _aggregated(self, outputs: dict, chosen: list[int]) -> np.ndarray:
        """The `windows` signature's window probabilities, aggregated by the run's rule; the
        windows are kept (`window_outputs`) for other rules (`evaluate` compares them)."""
        probabilities, documents, tokens = (outputs[name].numpy() for name in
                                            ("window_probabilities", "documents", "window_tokens"))
        self.window_outputs.append((probabilities, np.asarray(chosen)[documents], tokens))
        return aggregate(probabilities, documents, len(chosen), self.aggregation, tokens, self.multi_label)
