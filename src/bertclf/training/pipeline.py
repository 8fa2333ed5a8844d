"""Token ids for training and scoring: tokenize once, then batch by length.

Texts go through the preprocessor once per run (in chunks, through one traced
packing function) into NumPy arrays. Every epoch then only gathers rows: no tokenizer on the
training path. Batches are planned in Python from the token lengths:

* Training shuffles the examples with a generator seeded by (seed, epoch), so
  epoch `e` has the same order whether the run was interrupted or not (this is
  what makes `--resume` reproduce an uninterrupted run).
* With bucketing, each window of shuffled examples is sorted by length and cut
  into batches, and the batches are shuffled; every batch is padded only to the
  smallest bucket boundary that holds its longest example. The number of
  batches per epoch does not depend on the shuffle.
* Scoring sorts by length and puts results back in the original order.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator, Optional, Sequence

import numpy as np
import tensorflow as tf

from bertclf.data import Split
from bertclf.encoders.tokenization import packing_function, padded_length, windows_packing_function
from bertclf.encoders.windows import Windowing, aggregate
from bertclf.progress import Progress
from bertclf.task import ClassificationTask
# Defined with the budget planner, which must stay free of TensorFlow; fit() takes it from here.
from bertclf.training.budget import steps_per_epoch  # noqa: F401

# Strings go through the tokenizer in chunks this large; it vectorises well.
_TOKENIZE_CHUNK = 256
# Bucketing sorts this many batches' worth of shuffled examples at a time: enough
# for batches of similar length, few enough that an epoch stays well mixed.
_WINDOW_BATCHES = 32


@dataclasses.dataclass
class EncodedSplit:
    """A split's packed token ids, padded to the sequence length, and its labels."""

    word_ids: np.ndarray   # int32 [examples, seq_length]
    type_ids: np.ndarray   # int32 [examples, seq_length]
    lengths: np.ndarray    # int32 [examples], real tokens incl. [CLS]/[SEP]
    labels: np.ndarray     # int32 [examples]
    # int32 [texts]: each text's packed length before truncation (the data report's token statistics)
    full_lengths: Optional[np.ndarray] = None
    # Windowed splits (model.long_text, train.windows): rows are windows, `documents` [rows] the
    # text of each (0 .. texts - 1, a text's windows together and in order), `labels` its text's.
    documents: Optional[np.ndarray] = None
    aggregation: str = "mean"  # how a windowed split's row probabilities become its texts'
    random_window: bool = False  # training reads one window per text, drawn anew every epoch

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def seq_length(self) -> int:
        return self.word_ids.shape[1]

    @property
    def text_count(self) -> int:
        """How many texts the rows hold (rows, unless windowed)."""
        return len(self.labels) if self.documents is None else len(self.full_lengths)

    @property
    def training_examples(self) -> int:
        """Examples an epoch of training reads: rows, or texts when one window per text is drawn."""
        return self.text_count if self.random_window else len(self.labels)

    def epoch_rows(self, seed: int, epoch: int) -> Optional[np.ndarray]:
        """With `random_window`, the row of each text that epoch `epoch` reads (seeded); else None (all)."""
        if not self.random_window:
            return None
        starts = np.searchsorted(self.documents, np.arange(self.text_count + 1))
        draws = np.random.default_rng([seed, epoch, 1]).random(self.text_count)
        return starts[:-1] + (draws * np.diff(starts)).astype(np.int64)

    @property
    def text_labels(self) -> np.ndarray:
        """One label per text, in the split's order."""
        if self.documents is None:
            return self.labels
        return self.labels[np.searchsorted(self.documents, np.arange(self.text_count))]

    def text_probabilities(self, probabilities: np.ndarray, multi_label: bool = False) -> np.ndarray:
        """Per text, from per row: a windowed split's windows aggregated as the exported model does."""
        if self.documents is None:
            return probabilities
        return aggregate(probabilities, self.documents, self.text_count, self.aggregation, self.lengths,
                         multi_label)

    def take(self, texts: Sequence[int]) -> "EncodedSplit":
        """The rows of the texts at `texts`, in that order (a windowed split's windows renumbered)."""
        texts = np.asarray(texts, dtype=np.int64)
        full = self.full_lengths[texts] if self.full_lengths is not None else None
        if self.documents is None:
            return EncodedSplit(self.word_ids[texts], self.type_ids[texts], self.lengths[texts], self.labels[texts],
                                full)
        starts = np.searchsorted(self.documents, np.arange(self.text_count + 1))
        rows = np.concatenate([np.arange(starts[t], starts[t + 1]) for t in texts]) if len(texts) else \
            np.zeros(0, np.int64)
        documents = np.repeat(np.arange(len(texts), dtype=np.int32), starts[texts + 1] - starts[texts])
        return EncodedSplit(self.word_ids[rows], self.type_ids[rows], self.lengths[rows], self.labels[rows], full,
                            documents, self.aggregation, self.random_window)


def windowing(config, preprocessor) -> tuple[Optional[Windowing], Optional[Windowing]]:
    """A run's `Windowing` for scoring (model.long_text) and for training (train.windows), or None each."""
    from bertclf.encoders.tokenization import leading_tokens

    if config.model.long_text == "truncate" and config.train.windows == "truncate":
        return None, None
    windows = Windowing.of(config.model, leading_tokens(preprocessor))
    scoring = windows if config.model.long_text == "windows" else None
    training = (dataclasses.replace(windows, random_window=config.train.windows == "random")
                if config.train.windows != "truncate" else None)
    return scoring, training


def encode_split(split: Split, preprocessor, seq_length: int, truncation: str = "head",
                 progress: Optional[str] = "Tokenising", windows: Optional[Windowing] = None) -> EncodedSplit:
    """Tokenizes and packs a split once (see `encode_texts` for truncation; `windows`: as windows).

    Chunks go through one packing function traced once per run (see
    `packing_function`); a `tf.data` map would trace the tokenizer again for
    every split, which cost more than tokenizing 20,000 sentences. `progress`
    labels the progress bar or lines of a long split (None: none).
    """
    if windows is not None:
        pack = windows_packing_function(preprocessor, seq_length, windows.stride, windows.max_windows,
                                        windows.leading)
    else:
        pack = packing_function(preprocessor, seq_length, truncation, pairs=split.pairs is not None)
    word_ids, type_ids, lengths, full_lengths, documents = [], [], [], [], []
    with Progress(progress, len(split), "texts") as shown:
        for start in range(0, len(split), _TOKENIZE_CHUNK):
            _pack_chunk(pack, split, start, (word_ids, type_ids, lengths, full_lengths, documents))
            shown.advance(min(_TOKENIZE_CHUNK, len(split) - start))
    if not word_ids:
        empty = np.zeros((0, seq_length), np.int32)
        nothing = np.zeros(0, np.int32)
        return EncodedSplit(empty, empty, nothing, nothing, nothing, nothing if windows else None,
                            windows.aggregation if windows else "mean")
    labels = label_array(split.labels)
    if windows is None:
        return EncodedSplit(np.concatenate(word_ids), np.concatenate(type_ids), np.concatenate(lengths), labels,
                            np.concatenate(full_lengths))
    documents = np.concatenate(documents)
    return EncodedSplit(np.concatenate(word_ids), np.concatenate(type_ids), np.concatenate(lengths),
                        labels[documents], np.concatenate(full_lengths), documents, windows.aggregation,
                        windows.random_window)


def label_array(labels: Sequence) -> np.ndarray:
    """A split's labels as an array rows can be gathered from: int32 class indices, or for
    multi-label data an object array holding each text's tuple of label indices (the task turns a
    batch of them into its 0/1 matrix)."""
    if labels and isinstance(labels[0], tuple):
        array = np.empty(len(labels), dtype=object)
        for i, label_set in enumerate(labels):  # one by one: equal-length tuples would broadcast
            array[i] = label_set
        return array
    return np.asarray(labels, np.int32)


def _pack_chunk(pack, split: Split, start: int, arrays: tuple[list, ...]) -> None:
    """Packs the chunk of `split` from `start` and appends its arrays (windows: their texts' indices)."""
    word_ids, type_ids, lengths, full_lengths, documents = arrays
    chunk = [tf.constant(split.texts[start:start + _TOKENIZE_CHUNK])]
    if split.pairs is not None:
        chunk.append(tf.constant(split.pairs[start:start + _TOKENIZE_CHUNK]))
    packed = {name: value.numpy() for name, value in pack(*chunk).items()}
    word_ids.append(packed["input_word_ids"].astype(np.int32))
    type_ids.append(packed["input_type_ids"].astype(np.int32))
    lengths.append(packed["input_mask"].sum(axis=1).astype(np.int32))
    full_lengths.append(packed["full_lengths"].astype(np.int32))
    if "documents" in packed:
        documents.append(packed["documents"].astype(np.int32) + start)


class SplitEncoder:
    """`encode_split` with a run's settings, each split packed once however often it is asked for.

    Calling it gives a split as the run scores it (per-epoch validation, scoring, the export
    check, the data report's token statistics): truncated, or with `scoring` windows as
    windows. `training(split)` gives it as the run trains on it: truncated, or with
    `training_windows` as windows (train.windows random or all).
    """

    def __init__(self, preprocessor, seq_length: int, truncation: str = "head", scoring: Optional[Windowing] = None,
                 training_windows: Optional[Windowing] = None, timer=None):
        self._preprocessor, self._seq_length, self._truncation = preprocessor, seq_length, truncation
        self._scoring, self._training, self._timer = scoring, training_windows, timer
        # (id(split), windowing) -> (split kept alive, packed)
        self._packed: dict[tuple, tuple[Split, EncodedSplit]] = {}

    def __call__(self, split: Split) -> EncodedSplit:
        return self._encoded(split, self._scoring)

    def training(self, split: Split) -> EncodedSplit:
        """`split` as training batches read it."""
        return self._encoded(split, self._training)

    def _encoded(self, split: Split, windows: Optional[Windowing]) -> EncodedSplit:
        key = (id(split), windows)
        if key not in self._packed:
            with self._timer.phase("tokenize") if self._timer is not None else contextlib.nullcontext():
                packed = encode_split(split, self._preprocessor, self._seq_length, self._truncation,
                                      windows=windows)
            self._packed[key] = (split, packed)
        return self._packed[key][1]

    def subset(self, split: Split, indices: Sequence[int]) -> Split:
        """`split.subset(indices)`, its packed rows taken from `split`'s (no second tokenizer pass)."""
        self(split)
        part = split.subset(indices)
        for (identity, windows), (_, packed) in list(self._packed.items()):
            if identity == id(split):
                self._packed[(id(part), windows)] = (part, packed.take(indices))
        return part


def plan_batches(lengths: np.ndarray, batch_size: int, bucketing: bool = True,
                 seed: Optional[int] = None, epoch: int = 0) -> list[np.ndarray]:
    """Example indices of each batch, in the order they are fed.

    Args:
        lengths: Token length of each example.
        batch_size: Examples per batch (the last batch of a window may be smaller).
        bucketing: Group examples of similar length into the same batch.
        seed: Shuffle (training); None keeps a fixed order (scoring: by length
            when bucketing, else as given).
        epoch: Mixed into the seed, so each epoch has its own reproducible order.
    """
    count = len(lengths)
    if seed is None:
        order = np.argsort(lengths, kind="stable") if bucketing else np.arange(count)
        return [order[start:start + batch_size] for start in range(0, count, batch_size)]
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(count)
    if not bucketing:
        return [order[start:start + batch_size] for start in range(0, count, batch_size)]
    batches = []
    window = batch_size * _WINDOW_BATCHES
    for start in range(0, count, window):
        chunk = order[start:start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def gather_batch(encoded: EncodedSplit, indices: np.ndarray, bucketing: bool = True,
                 width: Optional[int] = None) -> dict:
    """The model inputs of the examples at `indices`, padded to their bucket (or to `width`)."""
    if width is None:
        width = batch_width(encoded, indices, bucketing)
    lengths = encoded.lengths[indices]
    return {"input_word_ids": encoded.word_ids[indices, :width],
            "input_mask": (np.arange(width)[np.newaxis, :] < lengths[:, np.newaxis]).astype(np.int32),
            "input_type_ids": encoded.type_ids[indices, :width]}


def batch_width(encoded: EncodedSplit, indices: np.ndarray, bucketing: bool = True) -> int:
    """The padded length of the batch of examples at `indices`."""
    longest = int(encoded.lengths[indices].max()) if len(indices) else 1
    return padded_length(longest, encoded.seq_length, bucketing)


def replica_shares(indices: np.ndarray, replicas: int) -> list[np.ndarray]:
    """A global batch cut into one share per replica, in replica order (sizes differ by at most 1)."""
    return np.array_split(indices, replicas)


def _input_signature() -> dict:
    return {name: tf.TensorSpec([None, None], tf.int32, name=name)
            for name in ("input_word_ids", "input_mask", "input_type_ids")}


def training_dataset(encoded: EncodedSplit, batch_size: int, task: ClassificationTask, seed: int,
                     first_epoch: int, epochs: int, bucketing: bool = True,
                     class_weight: Optional[dict[int, float]] = None, replicas: int = 1,
                     replica_ids: Sequence[int] = (0,)) -> tf.data.Dataset:
    """(inputs, labels[, sample weights]) batches for epochs `first_epoch` .. `epochs - 1`, in one stream.

    Feed it to `fit(..., initial_epoch=first_epoch, steps_per_epoch=steps_per_epoch(...))`;
    Keras then keeps one iterator across epochs. `batch_size` is the global batch:
    with several replicas, every global batch is planned exactly as on one device
    and cut into `replicas` shares, padded alike; this dataset yields, step after
    step, the shares of the replicas in `replica_ids` (those its worker feeds).
    `class_weight` becomes per-example weights, as Keras's own `class_weight` does
    (which distributed datasets do not take).

    Keras averages each replica's loss over its share, then the replicas' losses:
    shares of unequal size (an odd batch, the last one of an epoch) would weigh
    their examples unequally. With several replicas, each example's weight is
    therefore scaled by replicas x share size / batch size, which makes the step
    the one-device step on the whole global batch. (Keras's logged training loss
    still weighs a step's replicas by share size, so on steps with unequal shares
    it is an estimate; validation scores are exact.)
    """
    weighted = class_weight is not None or replicas > 1
    if class_weight is not None:
        weights = np.ones(max([int(encoded.labels.max(initial=0)), *class_weight]) + 1, np.float32)
        for label, weight in class_weight.items():
            weights[label] = weight
        per_example = lambda share: weights[encoded.labels[share]]  # noqa: E731
    else:  # one weight per example (several replicas), or per label in the loss (multi-label)
        per_example = lambda share: np.ones(len(share), np.float32)  # noqa: E731

    def batches() -> Iterator:
        for epoch in range(first_epoch, epochs):
            rows = encoded.epoch_rows(seed, epoch)
            for indices in plan_batches(encoded.lengths if rows is None else encoded.lengths[rows], batch_size,
                                        bucketing, seed, epoch):
                if rows is not None:
                    indices = rows[indices]
                width = batch_width(encoded, indices, bucketing)
                shares = replica_shares(indices, replicas)
                for replica in replica_ids:
                    share = shares[replica]
                    element = (gather_batch(encoded, share, bucketing, width),
                               task.targets(encoded.labels[share]))
                    if weighted:
                        scale = replicas * len(share) / len(indices)
                        element += (per_example(share) * np.float32(scale),)
                    yield element

    signature = (_input_signature(), task.target_spec())
    if weighted:
        signature += (tf.TensorSpec([None], tf.float32),)
    return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(2)


def distributed_training_dataset(strategy, encoded: EncodedSplit, batch_size: int, task: ClassificationTask,
                                 seed: int, first_epoch: int, epochs: int, bucketing: bool = True,
                                 class_weight: Optional[dict[int, float]] = None):
    """`training_dataset` for every replica of `strategy`, each worker building its own replicas' shares.

    The per-epoch order stays a function of (seed, epoch) whatever the number of
    replicas: each worker plans the same global batches and keeps its shares.
    """
    def for_worker(context: tf.distribute.InputContext) -> tf.data.Dataset:
        local = context.num_replicas_in_sync // context.num_input_pipelines
        first = context.input_pipeline_id * local
        return training_dataset(encoded, batch_size, task, seed, first_epoch, epochs, bucketing, class_weight,
                                replicas=context.num_replicas_in_sync, replica_ids=range(first, first + local))

    return strategy.distribute_datasets_from_function(for_worker)


def predict_logits(model, encoded: EncodedSplit, batch_size: int, bucketing: bool = True,
                   progress: Optional[str] = None) -> np.ndarray:
    """The model's outputs for every example, in the split's order (`progress`: its bar's label)."""
    import tf_keras

    plan = plan_batches(encoded.lengths, batch_size, bucketing)
    if not plan:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    dataset = tf.data.Dataset.from_generator(
        lambda: (gather_batch(encoded, indices, bucketing) for indices in plan),
        output_signature=_input_signature()).prefetch(2)
    # Windowed splits are scored window by window: count what is counted.
    shown = Progress(progress, len(encoded.lengths), "texts" if encoded.documents is None else "windows")
    sizes = [len(indices) for indices in plan]
    advance = tf_keras.callbacks.LambdaCallback(on_predict_batch_end=lambda batch, logs: shown.advance(sizes[batch]))
    with shown:
        outputs = model.predict(dataset, verbose=0, callbacks=[advance])
    ordered = np.empty_like(outputs)
    ordered[np.concatenate(plan)] = outputs
    return ordered
