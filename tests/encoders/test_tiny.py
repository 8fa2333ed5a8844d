"""`bertclf models make-tiny --vocab`: a tiny encoder over a vocabulary the user gives."""

from __future__ import annotations

import pytest

from bertclf.cli import main

pytestmark = pytest.mark.slow

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "film", "bad", "##s"]


def test_make_tiny_with_a_given_vocab(tmp_path, capsys):
    import tensorflow as tf

    from bertclf.encoders import load_preprocessor

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    out = tmp_path / "tiny"
    assert main(["models", "make-tiny", str(out), "--vocab", str(vocab), "--layers", "1", "--hidden", "16",
                 "--heads", "2"]) == 0
    assert f"Wrote {out} ({len(VOCAB)} wordpieces, 1 layers, hidden 16)" in capsys.readouterr().out
    assert (out / "vocab.txt").read_text(encoding="utf-8").split() == VOCAB
    preprocessor = load_preprocessor(str(out / "preprocessor"))
    tokens = preprocessor.tokenize(tf.constant(["Good films, bad"]))
    # Lower-cased, split into the given wordpieces; what the vocab lacks is [UNK].
    assert tokens.merge_dims(-2, -1).to_list() == [[5, 6, 8, 1, 7]]
    encoder = tf.saved_model.load(str(out / "encoder"))
    outputs = encoder({"input_word_ids": tf.constant([[2, 5, 6, 3]]), "input_mask": tf.ones([1, 4], tf.int32),
                       "input_type_ids": tf.zeros([1, 4], tf.int32)})
    assert outputs["sequence_output"].shape == (1, 4, 16) and outputs["pooled_output"].shape == (1, 16)
    assert outputs["default"].shape == (1, 16) and len(outputs["encoder_outputs"]) == 1
    # What a TF Hub BERT encoder carries besides its call (see encoders.export.save_encoder).
    assert len(encoder.trainable_variables) == len(encoder.variables) > 0 and encoder.regularization_losses == []
    assert bool(encoder.do_lower_case.numpy()) and encoder.vocab_file.asset_path.numpy().endswith(b"vocab.txt")
    # Saved without Keras' layer functions: one call, traced for training and for inference.
    assert _keras_objects(out / "encoder") == [] and len(encoder.__call__.concrete_functions) == 2


def _keras_objects(saved_model_dir) -> list[str]:
    """The Keras layers and models a SavedModel's object graph holds (Keras' own SavedModel format)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((saved_model_dir / "saved_model.pb").read_bytes())
    return [node.user_object.identifier for node in proto.meta_graphs[0].object_graph_def.nodes
            if node.WhichOneof("kind") == "user_object" and "keras" in node.user_object.identifier]


def test_make_tiny_refuses_a_missing_vocab_and_a_used_folder(tmp_path, capsys):
    assert main(["models", "make-tiny", str(tmp_path / "a"), "--vocab", str(tmp_path / "none.txt")]) == 2
    assert capsys.readouterr().err == f"error: --vocab {tmp_path / 'none.txt'}: no such file\n"
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("x")
    assert main(["models", "make-tiny", str(tmp_path / "used"), "--vocab", str(tmp_path / "none.txt")]) == 2
    assert "exists and is not empty; choose a new folder" in capsys.readouterr().err


def test_writing_an_encoder_folder_traces_each_saved_signature_once(tmp_path, monkeypatch):
    """The encoder's call (for inference and for training) and the preprocessor's packing (one
    or two segments of ragged rank 1 or 2, and the default call) are traced once each, for
    the save (runtime.saving); the save used to trace each of them again (4 and 9 traces)."""
    import tensorflow as tf
    from official.nlp.modeling import layers

    from bertclf.encoders.export import save_encoder
    from bertclf.encoders.preprocessor_export import save_preprocessor

    class Encoder(tf.Module):
        """Stands in for a BertEncoder (save_encoder needs its call and variables), counting traces."""

        def __init__(self):
            super().__init__()
            self.table, self.traces = tf.Variable(tf.ones([len(VOCAB), 4])), 0

        def __call__(self, inputs, training=False):
            self.traces += 1
            sequence = tf.gather(self.table, inputs["input_word_ids"])
            return {"pooled_output": sequence[:, 0], "sequence_output": sequence, "encoder_outputs": [sequence]}

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    encoder = Encoder()
    save_encoder(tmp_path / "encoder", encoder, vocab, True)
    assert encoder.traces == 2
    loaded = tf.saved_model.load(str(tmp_path / "encoder"))
    ids = {"input_word_ids": tf.constant([[2, 5]]), "input_mask": tf.ones([1, 2], tf.int32),
           "input_type_ids": tf.zeros([1, 2], tf.int32)}
    assert loaded(ids, training=True)["sequence_output"].shape == loaded(ids)["sequence_output"].shape == (1, 2, 4)

    packings = []
    pack = layers.BertPackInputs.bert_pack_inputs
    monkeypatch.setattr(layers.BertPackInputs, "bert_pack_inputs",
                        staticmethod(lambda *args, **kwargs: packings.append(1) or pack(*args, **kwargs)))
    tokenizer = layers.BertTokenizer(vocab_file=str(vocab), lower_case=True, tokenize_with_offsets=False)
    save_preprocessor(tmp_path / "preprocessor", tokenizer, dict(tokenizer.get_special_tokens_dict()), 128)
    assert len(packings) == 5
    loaded = tf.saved_model.load(str(tmp_path / "preprocessor"))
    tokens = loaded.tokenize(tf.constant(["good film", "bad"]))
    packed = loaded.bert_pack_inputs([tokens, tokens], seq_length=tf.constant(8))["input_word_ids"]
    assert packed.numpy().tolist() == [[2, 5, 6, 3, 5, 6, 3, 0], [2, 7, 3, 7, 3, 0, 0, 0]]
    assert loaded.bert_pack_inputs([tokens.merge_dims(-2, -1)])["input_word_ids"].shape == (2, 128)  # default length
    assert loaded(tf.constant(["good"]))["input_word_ids"].numpy()[0, :3].tolist() == [2, 5, 3]
