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

import dataclasses
from typing import Iterator, Optional, Sequence

import numpy as np
import tensorflow as tf

from bertclf.data import Split
from bertclf.encoders.tokenization import packing_function, padded_length
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
    # int32 [examples]: packed length before truncation (the data report's token statistics)
    full_lengths: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def seq_length(self) -> int:
        return self.word_ids.shape[1]


def encode_split(split: Split, preprocessor, seq_length: int, truncation: str = "head",
                 progress: Optional[str] = "Tokenising") -> EncodedSplit:
    """Tokenizes and packs a split once (see `encode_texts` for truncation).

    Chunks go through one packing function traced once per run (see
    `packing_function`); a `tf.data` map would trace the tokenizer again for
    every split, which cost more than tokenizing 20,000 sentences. `progress`
    labels the progress bar or lines of a long split (None: none).
    """
    pack = packing_function(preprocessor, seq_length, truncation, pairs=split.pairs is not None)
    word_ids, type_ids, lengths, full_lengths = [], [], [], []
    with Progress(progress, len(split), "texts") as shown:
        for start in range(0, len(split), _TOKENIZE_CHUNK):
            _pack_chunk(pack, split, start, (word_ids, type_ids, lengths, full_lengths))
            shown.advance(min(_TOKENIZE_CHUNK, len(split) - start))
    if not word_ids:
        empty = np.zeros((0, seq_length), np.int32)
        return EncodedSplit(empty, empty, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32))
    return EncodedSplit(np.concatenate(word_ids), np.concatenate(type_ids), np.concatenate(lengths),
                        label_array(split.labels), np.concatenate(full_lengths))


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


def _pack_chunk(pack, split: Split, start: int, arrays: tuple[list, list, list, list]) -> None:
    """Packs the chunk of `split` from `start` and appends its arrays."""
    word_ids, type_ids, lengths, full_lengths = arrays
    chunk = [tf.constant(split.texts[start:start + _TOKENIZE_CHUNK])]
    if split.pairs is not None:
        chunk.append(tf.constant(split.pairs[start:start + _TOKENIZE_CHUNK]))
    packed = {name: value.numpy() for name, value in pack(*chunk).items()}
    word_ids.append(packed["input_word_ids"].astype(np.int32))
    type_ids.append(packed["input_type_ids"].astype(np.int32))
    lengths.append(packed["input_mask"].sum(axis=1).astype(np.int32))
    full_lengths.append(packed["full_lengths"].astype(np.int32))


class SplitEncoder:
    """`encode_split` with a run's settings, each split packed once however often it is asked for.

    Training, per-epoch validation, scoring and the data report's token
    statistics all use the same packed arrays.
    """

    def __init__(self, preprocessor, seq_length: int, truncation: str = "head"):
        self._preprocessor, self._seq_length, self._truncation = preprocessor, seq_length, truncation
        self._packed: dict[int, tuple[Split, EncodedSplit]] = {}  # id(split) -> (split kept alive, packed)

    def __call__(self, split: Split) -> EncodedSplit:
        if id(split) not in self._packed:
            packed = encode_split(split, self._preprocessor, self._seq_length, self._truncation)
            self._packed[id(split)] = (split, packed)
        return self._packed[id(split)][1]

    def subset(self, split: Split, indices: Sequence[int]) -> Split:
        """`split.subset(indices)`, its packed rows taken from `split`'s (no second tokenizer pass)."""
        packed = self(split)
        rows = np.asarray(indices, dtype=np.int64)
        part = split.subset(indices)
        full = packed.full_lengths[rows] if packed.full_lengths is not None else None
        self._packed[id(part)] = (part, EncodedSplit(packed.word_ids[rows], packed.type_ids[rows],
                                                     packed.lengths[rows], packed.labels[rows], full))
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
            for indices in plan_batches(encoded.lengths, batch_size, bucketing, seed, epoch):
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
    shown = Progress(progress, len(encoded.lengths), "texts")
    sizes = [len(indices) for indices in plan]
    advance = tf_keras.callbacks.LambdaCallback(on_predict_batch_end=lambda batch, logs: shown.advance(sizes[batch]))
    with shown:
        outputs = model.predict(dataset, verbose=0, callbacks=[advance])
    ordered = np.empty_like(outputs)
    ordered[np.concatenate(plan)] = outputs
    return ordered
