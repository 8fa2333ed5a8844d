"""BERT's masking, with tensorflow_text's `mask_language_model`, and the `tf.data` pipelines around it.

Of every sequence, `mask_rate` of the tokens that are not [CLS], [SEP] or
padding (at most `max_predictions`) are chosen; of those, 80% become [MASK],
10% a random token and 10% stay as they were (Devlin et al., 2019). Training
sequences are masked afresh each time they are drawn (dynamic masking, as in
RoBERTa); held-out sequences are masked once, with a fixed seed, so the
held-out loss is comparable from one evaluation to the next.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tensorflow_text as text

_MASK_TOKEN_RATE = 0.8
_RANDOM_TOKEN_RATE = 0.1


@dataclasses.dataclass(frozen=True)
class MaskingRule:
    """What may be masked, how much, and what replaces it."""

    vocab_size: int
    mask_id: int
    unselectable_ids: tuple[int, ...]  # [CLS], [SEP], [PAD]
    pad_id: int
    mask_rate: float
    max_predictions: int


def mask_batch(ids: tf.Tensor, rule: MaskingRule) -> tuple[dict, tf.Tensor, tf.Tensor]:
    """Masks a batch of packed sequences.

    Args:
        ids: [batch, seq_length] int32, each row `[CLS] ... [SEP]` then padding.
        rule: The masking rule.

    Returns:
        (encoder inputs plus `masked_lm_positions`, the original ids at those
        positions, their weights: 1.0 for a prediction, 0.0 for padding), the
        last two [batch, max_predictions].
    """
    seq_length = tf.shape(ids)[1]
    ragged = tf.RaggedTensor.from_tensor(ids, padding=rule.pad_id)
    selector = text.RandomItemSelector(max_selections_per_batch=rule.max_predictions,
                                       selection_rate=rule.mask_rate,
                                       unselectable_ids=list(rule.unselectable_ids))
    chooser = text.MaskValuesChooser(rule.vocab_size, rule.mask_id, mask_token_rate=_MASK_TOKEN_RATE,
                                     random_token_rate=_RANDOM_TOKEN_RATE)
    masked, positions, originals = text.mask_language_model(ragged, selector, chooser)
    word_ids, input_mask = text.pad_model_inputs(masked, max_seq_length=seq_length, pad_value=rule.pad_id)
    positions, weights = text.pad_model_inputs(positions, max_seq_length=rule.max_predictions)
    labels, _ = text.pad_model_inputs(originals, max_seq_length=rule.max_predictions)
    features = {"input_word_ids": word_ids, "input_mask": input_mask,
                "input_type_ids": tf.zeros_like(word_ids), "masked_lm_positions": positions}
    return features, labels, tf.cast(weights, tf.float32)


def training_dataset(sequences: np.ndarray, rule: MaskingRule, batch_size: int, seed: int,
                     skip_batches: int = 0) -> tf.data.Dataset:
    """An endless, seeded stream of freshly masked batches.

    Args:
        skip_batches: Batches already trained on (a resumed run), skipped before
            masking so the stream continues where it stopped.
    """
    dataset = (tf.data.Dataset.from_tensor_slices(sequences)
               .shuffle(len(sequences), seed=seed, reshuffle_each_iteration=True)
               .repeat()
               .batch(batch_size, drop_remainder=True))
    if skip_batches:
        dataset = dataset.skip(skip_batches)
    # One batch masked at a time: the masking ops draw from stateful random generators, and
    # parallel calls would draw in whatever order threads run them, so the same seed gave other
    # masks (a held-out loss after 4 steps of 6.53 or 6.69 by thread count). Masking is cheap
    # beside a step, and prefetching still overlaps it with training.
    return dataset.map(lambda ids: mask_batch(ids, rule)).prefetch(2)


def held_out_dataset(sequences: np.ndarray, rule: MaskingRule, batch_size: int, seed: int) -> tf.data.Dataset:
    """The held-out sequences, masked once with `seed`, as a finite dataset of batches."""
    tf.random.set_seed(seed)
    features, labels, weights = mask_batch(tf.constant(sequences), rule)
    return tf.data.Dataset.from_tensor_slices((features, labels, weights)).batch(batch_size)
