"""A small, randomly initialised BERT with a vocabulary learned from the texts.

For smoke runs and tests: no pretrained weights are needed and, because the
WordPiece vocabulary is learned from the run's own training texts, it works for
any language. It is exported exactly like a TF Hub BERT (encoder and matching
preprocessor SavedModels, `encoders.export`), so
everything downstream treats it like any other encoder.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Sequence

from bertclf.cache import build_once, cache_dir
from bertclf.config import TinyEncoderConfig
from bertclf.errors import ModelError
from bertclf.encoders.export import ENCODER_FORMAT_VERSION, VOCAB_FILE, export_encoder_folder, stale_encoder_folder
from bertclf.encoders.registry import MANIFEST_FILE

RESERVED_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def cached_tiny_encoder(texts: Sequence[str], tiny: TinyEncoderConfig, seed: int) -> Path:
    """Returns a tiny encoder folder for these texts and settings, building it once.

    The cache key covers every input (the vocabulary sample, the shape, the
    seed), so a cached folder is exactly what a fresh build would produce.
    """
    sample = list(texts[: tiny.vocab_sample])
    key = hashlib.sha256(json.dumps([ENCODER_FORMAT_VERSION, tiny.model_dump(), seed, sample])
                         .encode("utf-8")).hexdigest()[:16]
    folder = cache_dir("encoders") / f"tiny-{key}"

    def build(staging: Path) -> None:
        print(f"Building the tiny encoder (vocabulary from {len(sample)} texts)...", file=sys.stderr)
        export_tiny_encoder(staging, learn_vocab(sample, tiny.vocab_size, tiny.lower_case), tiny, seed)

    return build_once(folder, build, MANIFEST_FILE, stale=stale_encoder_folder)


def learn_vocab(texts: Sequence[str], vocab_size: int, lower_case: bool) -> list[str]:
    """Learns a WordPiece vocabulary (BERT's reserved tokens first, [PAD] at id 0)."""
    import tensorflow as tf
    from tensorflow_text.python.ops import bert_tokenizer
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

    from bertclf.encoders.wordpiece import learn_vocabulary
    from bertclf.progress import Progress

    # tensorflow_text's bert_vocab_from_dataset, in its two phases, each with progress; the
    # second is its learner's algorithm computed faster (bertclf.encoders.wordpiece).
    tokenizer = bert_tokenizer.BasicTokenizer(lower_case=lower_case)
    batches = tf.data.Dataset.from_tensor_slices(list(texts)).batch(1000).map(tokenizer.tokenize)
    with Progress("Counting words for the vocabulary", len(texts), "texts") as shown:
        def counted():
            for words in batches:
                yield words
                shown.advance(int(words.nrows()))

        counts = learner.count_words(counted())
    with Progress(f"Learning a {vocab_size:,}-piece vocabulary from {len(counts):,} words", None, "steps"):
        return learn_vocabulary(counts, vocab_size, RESERVED_TOKENS)


def read_vocab(path: Path) -> list[str]:
    """Reads a vocab.txt, checking it has BERT's special tokens."""
    vocab = [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    missing = [token for token in RESERVED_TOKENS if token not in vocab]
    if missing:
        raise ModelError(f"{path}: vocabulary lacks {', '.join(missing)}; a BERT vocab.txt has "
                         f"[PAD] [UNK] [CLS] [SEP] [MASK]")
    return vocab


def export_tiny_encoder(out_dir: Path, vocab: list[str], tiny: TinyEncoderConfig, seed: int) -> None:
    """Writes `encoder/`, `preprocessor/`, the vocab and a manifest to `out_dir`.

    Built and exported in float32 whatever the Keras policy of the calling run.
    """
    import tf_keras
    from official.legacy.bert import configs
    from official.nlp.tools import export_tfhub_lib

    from bertclf.runtime.precision import keras_policy

    out_dir.mkdir(parents=True, exist_ok=True)
    vocab_file = out_dir / VOCAB_FILE
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    bert_config = configs.BertConfig(
        vocab_size=len(vocab), hidden_size=tiny.hidden, num_hidden_layers=tiny.layers,
        num_attention_heads=tiny.heads, intermediate_size=tiny.intermediate or 4 * tiny.hidden,
        max_position_embeddings=512, type_vocab_size=2,
        hidden_dropout_prob=tiny.dropout, attention_probs_dropout_prob=tiny.dropout)
    tf_keras.utils.set_random_seed(seed)
    manifest = {
        "name": "tiny", "family": "tiny", "layers": tiny.layers, "hidden": tiny.hidden,
        "heads": tiny.heads, "cased": not tiny.lower_case, "vocab_size": len(vocab),
        "languages": "those of the vocabulary's texts",
        "note": f"randomly initialised (seed {seed}); for smoke tests, not for accuracy",
    }
    with keras_policy("float32"):
        encoder = export_tfhub_lib.get_bert_encoder(bert_config)
        export_encoder_folder(out_dir, encoder, bert_config, vocab_file, tiny.lower_case, manifest)
