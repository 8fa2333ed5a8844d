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
