"""Times writing a WordPiece preprocessor SavedModel: tf-models-official's Keras export and bertclf's.

    python scripts/preprocessor_export_timing.py VOCAB_TXT [--repeats 3]

VOCAB_TXT is a BERT vocabulary (say, a converted encoder folder's `vocab.txt`). Alternating in one
process, per repeat: `export_tfhub_lib.export_preprocessing` (what bertclf wrote before encoder
format 5) and `bertclf.encoders.preprocessor_export.save_preprocessor`; then both folders are
loaded and must give the same ids and packs for a few texts. docs/BENCHMARKS.md has the figures.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tf-models-official's layers are Keras 2
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TEXTS = ["Hello world, a WONDERFUL film!", "정말 재미있는 영화였어요", "Ünïcode café naïve", ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vocab", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    import tensorflow_hub as hub
    import tensorflow_text  # noqa: F401  (the tokenizer ops)
    from official.nlp.modeling import layers
    from official.nlp.tools import export_tfhub_lib

    from bertclf.encoders.preprocessor_export import save_preprocessor

    def keras_export(out: str) -> None:
        export_tfhub_lib.export_preprocessing(out, vocab_file=str(args.vocab), do_lower_case=True,
                                              tokenize_with_offsets=False, default_seq_length=128)

    def lean_export(out: str) -> None:
        tokenizer = layers.BertTokenizer(vocab_file=str(args.vocab), lower_case=True, tokenize_with_offsets=False)
        save_preprocessor(Path(out), tokenizer, dict(tokenizer.get_special_tokens_dict()), 128)

    with tempfile.TemporaryDirectory() as work:
        for repeat in range(args.repeats):
            seconds = {}
            for name, export in (("keras", keras_export), ("bertclf", lean_export)):
                begun = time.perf_counter()
                export(f"{work}/{name}{repeat}")
                seconds[name] = time.perf_counter() - begun
            print(f"repeat {repeat + 1}: export_preprocessing {seconds['keras']:.2f} s, "
                  f"save_preprocessor {seconds['bertclf']:.2f} s", flush=True)
        texts = tf.constant(TEXTS)
        keras, lean = hub.load(f"{work}/keras0"), hub.load(f"{work}/bertclf0")
        for key in ("input_word_ids", "input_mask", "input_type_ids"):
            np.testing.assert_array_equal(keras(texts)[key].numpy(), lean(texts)[key].numpy())
        tokens = keras.tokenize(texts)
        assert tokens.to_list() == lean.tokenize(texts).to_list()
        for key, value in keras.bert_pack_inputs([tokens, tokens], seq_length=tf.constant(24)).items():
            np.testing.assert_array_equal(value.numpy(), lean.bert_pack_inputs([tokens, tokens],
                                                                                seq_length=tf.constant(24))[key].numpy())
        print("same ids, masks and type ids from both folders")


if __name__ == "__main__":
    main()
