"""The export check fails when the SavedModel disagrees with the classifier it was exported from.

Training runs `check_export` on every run; these tests show it can fail: probabilities off
by more than the tolerance, and served labels that do not follow the stored threshold.
"""

from __future__ import annotations

import numpy as np
import pytest

from bertclf import artifacts
from bertclf.data import Split

pytestmark = pytest.mark.slow


def _served(run_dir, texts):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the tokenizer ops; the shared run may have trained in another worker)

    served = tf.saved_model.load(str(run_dir / artifacts.MODEL_DIR)).signatures["serving_default"]
    return served(texts=tf.constant(texts))["probabilities"].numpy()


@pytest.fixture(scope="module")
def checked(binary_run):
    texts = ["good good fine", "bad awful poor", "an ordinary film"]
    return binary_run, Split(texts, [1, 0, 1]), _served(binary_run, texts), artifacts.read_labels(binary_run)


def test_the_check_passes_on_the_models_own_probabilities(checked):
    from bertclf.serving.export import check_export

    run_dir, split, probabilities, classes = checked
    record = check_export(run_dir / artifacts.MODEL_DIR, probabilities, split, 1e-5, None, classes)
    assert record == {"texts": 3, "max_abs_difference": 0.0, "tolerance": 1e-5}


def test_the_check_fails_beyond_its_tolerance(checked):
    from bertclf.serving.export import check_export

    run_dir, split, probabilities, classes = checked
    shifted = probabilities.copy()
    shifted[1] += np.array([2e-3, -2e-3])  # one text, as a wrong weight or tokenizer would move it
    with pytest.raises(RuntimeError, match=r"exported model differs from the trained one by 2\.00e-03 "
                                           r"\(tolerance 1e-03\)"):
        check_export(run_dir / artifacts.MODEL_DIR, shifted, split, 1e-3, None, classes)
    # Within a looser tolerance the same difference passes, and is recorded.
    record = check_export(run_dir / artifacts.MODEL_DIR, shifted, split, 5e-3, None, classes)
    assert record["max_abs_difference"] == pytest.approx(2e-3, rel=1e-3)


def test_the_check_fails_when_labels_do_not_follow_the_threshold(checked):
    from bertclf.serving.export import check_export

    run_dir, split, probabilities, classes = checked
    # The model was exported without a threshold (argmax); told it should apply one that turns
    # at least one answer, the check sees served labels that do not follow it.
    positive = probabilities[:, 1]
    threshold = float(positive.max()) + 1e-6 if (positive >= 0.5).any() else float(positive.min()) - 1e-6
    assert (positive >= threshold).tolist() != (positive >= 0.5).tolist()
    with pytest.raises(RuntimeError, match="do not follow its threshold"):
        check_export(run_dir / artifacts.MODEL_DIR, probabilities, split, 1e-5, threshold, classes)


def _library(model_dir) -> list[str]:
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((model_dir / "saved_model.pb").read_bytes())
    return [function.signature.name for function in proto.meta_graphs[0].graph_def.library.function]


def test_the_export_holds_one_classifier_and_none_of_the_preprocessors_keras_functions(binary_run):
    """Every signature calls one traced classifier, and of the loaded preprocessor only its tables,
    files and `tokenize` are kept: kept whole, its saved functions were most of the graph and a
    second of every load (docs/BENCHMARKS.md, cold start)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from bertclf.encoders.tokenization import token_ids

    model_dir = binary_run / artifacts.MODEL_DIR
    names = _library(model_dir)
    assert len([name for name in names if name.startswith("__inference_probabilities_")]) == 1, names
    # The preprocessor's own call (a Keras model's), which the old export carried beside the
    # functions `tokenize` and `bert_pack_inputs` call.
    assert not [name for name in names if "_wrapped_model" in name], names
    loaded = tf.saved_model.load(str(model_dir))
    assert set(loaded.signatures) == {"serving_default", "truncate", "windows"}
    # What `bertclf export` and `leading_tokens` ask of a saved run: its tokenizer, on its own.
    ids = token_ids(loaded.preprocessor, tf.constant(["good film", ""])).to_list()
    assert len(ids[0]) >= 2 and ids[1] == []
    assert (model_dir / "assets" / "vocab.txt").is_file()
