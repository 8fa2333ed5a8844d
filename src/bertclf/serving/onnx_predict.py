"""Predictions from a run's ONNX export with ONNX Runtime: no TensorFlow in the process.

The export's `tokenizer.json` gives the run's token ids (Hugging Face tokenizers), the
packing rules of `bertclf.json` make the model's inputs (`serving.onnx_tokenizer`),
and ONNX Runtime computes the probabilities. Neither this module nor anything it
imports imports TensorFlow or tensorflow_text (tests/serving/test_onnx.py checks
`sys.modules`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from bertclf import artifacts
from bertclf.encoders.windows import aggregate
from bertclf.errors import DataError, RunError
from bertclf.serving.predictions import BATCH_SIZE, BasePredictor

# Tokens per ONNX Runtime call (rows x padded length): see `OnnxPredictor.probabilities`.
_TOKENS_PER_CALL = 512


class OnnxPredictor(BasePredictor):
    """A run's ONNX export (float32, or int8 with `int8`), loaded once."""

    def __init__(self, run_dir: Path, int8: bool = False, long_text: Optional[str] = None):
        folder = run_dir / artifacts.EXPORT_DIR / artifacts.ONNX_SUBDIR
        self._load(folder, artifacts.read_labels(run_dir), int8)
        self.run_dir = run_dir
        if long_text is not None:
            if long_text == "windows" and self._pairs:
                raise RunError(f"--long-text windows: {run_dir} classifies sentence pairs, which are trimmed")
            self.long_text = long_text

    @classmethod
    def from_folder(cls, folder: Path, class_names: list[str], int8: bool = False) -> "OnnxPredictor":
        """A predictor over an export folder that is not (yet) in a run folder (the export's checks)."""
        predictor = cls.__new__(cls)
        predictor._load(folder, class_names, int8)
        predictor.run_dir = folder
        return predictor

    def _load(self, folder: Path, class_names: list[str], int8: bool) -> None:
        import onnxruntime

        from bertclf.serving.onnx_tokenizer import load_packer

        try:
            meta = json.loads((folder / artifacts.ONNX_META_FILE).read_text(encoding="utf-8"))
            self._packer = load_packer(folder)
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3  # warnings about unused initializers are not the user's
            model = folder / (artifacts.ONNX_INT8_FILE if int8 else artifacts.ONNX_MODEL_FILE)
            self._session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            raise RunError(f"{folder}: cannot load the ONNX export ({str(error).splitlines()[0]}); "
                           f"export it again with `bertclf export RUN --format onnx`") from None
        self.class_names = class_names
        self.multi_label = meta["task"] == "multi_label"
        self.threshold = meta.get("threshold")
        self.runtime = "int8" if int8 else "onnx"
        self._pairs = bool(meta["tokens"].get("pairs"))
        self.long_text = meta["tokens"].get("long_text", "truncate")
        self.aggregation = meta["tokens"].get("window_aggregation", "mean")

    @property
    def takes_pairs(self) -> bool:
        return self._pairs

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The model on packed inputs (`Packer.pack`'s dict): probabilities [batch, classes]."""
        (probabilities,) = self._session.run(["probabilities"], inputs)
        return probabilities

    def probabilities(self, texts: Sequence[str], pairs: Optional[Sequence[str]] = None,
                      batch_size: int = BATCH_SIZE, progress: Optional[str] = "Scoring") -> np.ndarray:
        """Class probabilities, shape [len(texts), num_classes] (see `Predictor.probabilities`)."""
        from bertclf.progress import Progress

        if self.takes_pairs and pairs is None:
            raise DataError("this model classifies text pairs; give each input as first<TAB>second")
        # Tokenized first, then batched by length: rows of similar length share a call, and a call
        # holds about _TOKENS_PER_CALL tokens (at most batch_size rows). ONNX Runtime on this
        # 2-core CPU scored IMDB reviews at 256 tokens fastest two at a time (31.8/s; 19.9/s at 64).
        windows = self.long_text == "windows" and not self.takes_pairs
        if windows:
            rows, documents, lengths = self._packer.window_rows(texts)
        else:
            rows = self._packer.rows(texts, pairs if self.takes_pairs else None)
            lengths = self._packer.full_lengths
        self.text_tokens = np.asarray(lengths, np.int64)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
        result = np.zeros((len(rows), len(self.class_names)), np.float32)
        with Progress(progress, len(rows), "windows" if windows else "texts") as shown:
            start = 0
            while start < len(order):
                width = len(rows[order[min(start + batch_size, len(order)) - 1]][0])
                count = max(1, min(batch_size, _TOKENS_PER_CALL // max(width, 1)))
                chosen = order[start:start + count]
                result[chosen] = self.run(self._packer.pack_ids([rows[i] for i in chosen]))
                shown.advance(len(chosen))
                start += len(chosen)
        if not windows:
            return result
        documents, tokens = np.asarray(documents), np.asarray([len(row) for row, _ in rows])
        self.window_outputs = [(result, documents, tokens)]
        return aggregate(result, documents, len(texts), self.aggregation, tokens, self.multi_label)
