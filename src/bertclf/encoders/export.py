"""Writing an encoder folder: TF Hub encoder + matching preprocessor + manifest."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from bertclf.registry import ENCODER_SUBDIR, MANIFEST_FILE, PREPROCESSOR_SUBDIR

VOCAB_FILE = "vocab.txt"
# Only callers that do not pass seq_length see this; bertclf always passes it.
_DEFAULT_SEQ_LENGTH = 128


def export_encoder_folder(out_dir: Path, encoder, bert_config, vocab_file: Path, lower_case: bool,
                          manifest: dict) -> None:
    """Exports a built `BertEncoder` and its WordPiece preprocessor as TF Hub SavedModels.

    `export_tfhub_lib.export_model` restores weights from a checkpoint, so the
    encoder's current weights are checkpointed first. The manifest is written
    last: its presence marks a complete folder.

    Args:
        out_dir: Gets `encoder/`, `preprocessor/` and the manifest.
        encoder: The `BertEncoder` whose weights to export.
        bert_config: The `BertConfig` it was built from.
        vocab_file: Its vocabulary (stored inside both SavedModels as an asset).
        lower_case: Whether the preprocessor lower-cases and strips accents.
        manifest: Registry facts about the encoder.
    """
    import tensorflow as tf
    from official.nlp.tools import export_tfhub_lib

    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = tf.train.Checkpoint(encoder=encoder).save(os.path.join(scratch, "weights"))
        export_tfhub_lib.export_model(
            str(out_dir / ENCODER_SUBDIR), bert_config=bert_config, model_checkpoint_path=checkpoint,
            with_mlm=False, vocab_file=str(vocab_file), do_lower_case=lower_case)
    export_tfhub_lib.export_preprocessing(
        str(out_dir / PREPROCESSOR_SUBDIR), vocab_file=str(vocab_file), do_lower_case=lower_case,
        tokenize_with_offsets=False, default_seq_length=_DEFAULT_SEQ_LENGTH)
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
