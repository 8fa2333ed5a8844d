"""`bertclf report` and the decision threshold, on a run trained with `train.threshold: auto`."""

from __future__ import annotations

import base64
import json
import re
import shutil

import numpy as np
import pytest
import yaml

from bertclf import artifacts
from bertclf.cli import main
from conftest import write_class_folders

pytestmark = pytest.mark.slow  # reads the session's trained runs

SECTIONS = ("summary", "config", "data", "training", "results", "threshold", "curves", "calibration",
            "mistakes", "uncertain", "timing")
HOSTILE = "<script>alert('owned')</script> awful boring tedious & dull"


def test_the_auto_threshold_is_the_validation_f1_optimum_and_the_model_applies_it(threshold_run):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the tokenizer ops of the exported model)

    from bertclf.config import Config
    from bertclf.data import load_data
    from bertclf.metrics import choose_threshold
    from bertclf.serving.predict import Predictor

    metrics = json.loads((threshold_run / artifacts.METRICS_FILE).read_text())
    chosen = metrics["threshold"]["value"]
    assert metrics["threshold"]["rule"] == "auto: the best validation F1"
    config = Config.model_validate(yaml.safe_load((threshold_run / artifacts.CONFIG_FILE).read_text()))
    validation = load_data(config.data, config.experiment.seed).validation
    predictor = Predictor(threshold_run)
    probabilities = predictor.probabilities(validation.texts)
    # Chosen again, by hand's rule, from the exported model's own validation probabilities.
    expected, achieved = choose_threshold(np.array(validation.labels) == 1, probabilities[:, 1])
    assert chosen == pytest.approx(expected, abs=1e-4)
    assert metrics["threshold"]["validation"]["f1"] == pytest.approx(achieved["f1"])
    assert predictor.threshold == pytest.approx(chosen, abs=1e-6)
    # The SavedModel's label follows the threshold, not the argmax; probabilities are untouched.
    served = tf.saved_model.load(str(threshold_run / artifacts.MODEL_DIR)).signatures["serving_default"]
    texts = validation.texts + ["awful boring", "wonderful brilliant", "the film was a story"]
    outputs = served(texts=tf.constant(texts))
    positive = outputs["probabilities"].numpy()[:, 1]
    labels = [label.decode() for label in outputs["label"].numpy()]
    assert labels == ["pos" if p >= np.float32(chosen) else "neg" for p in positive]
    predicted = [row["label"] for row in predictor.predict(texts)]
    assert predicted == labels
    # metrics.json keeps the 0.5 view for comparison, and the eval record is what report reads.
    if abs(chosen - 0.5) > 1e-9:
        assert "at_0.5" in metrics["test"]
    assert (threshold_run / artifacts.eval_file("test")).is_file()


@pytest.fixture
def reported(tmp_path, threshold_run):
    """A copy of the run, scored on a folder holding a hostile text, and its report of that."""
    run = tmp_path / "run"
    shutil.copytree(threshold_run, run)
    folder = write_class_folders(tmp_path / "reviews", {
        "neg": [HOSTILE, "awful dull film", "tedious plot"], "pos": ["wonderful brilliant", "a delight"]})
    assert main(["evaluate", str(run), "--data", str(folder)]) == 0
    assert main(["report", str(run), "--evaluation", "data-reviews"]) == 0
    return run / artifacts.REPORT_FILE


def test_report_has_every_section_with_inlined_images_and_escaped_texts(reported):
    html = reported.read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<section id="{section}">' in html, section
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    # history, token lengths of train and test, confusion, ROC, PR, calibration
    assert len(images) >= 7
    assert all(base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n" for image in images)
    assert "<script" not in html  # the review's tag is text, and the page has no scripts of its own
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt; awful boring tedious &amp; dull" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from the network
    assert "default-src 'none'" in html


def test_report_defaults_to_the_test_evaluation_and_refuses_unknown_ones(tmp_path, threshold_run, capsys):
    run = tmp_path / "run"
    shutil.copytree(threshold_run, run)
    assert main(["report", str(run)]) == 0
    assert capsys.readouterr().out.strip() == f"Wrote {run / artifacts.REPORT_FILE}"
    assert "<h2>Results: test</h2>" in (run / artifacts.REPORT_FILE).read_text()
    assert main(["report", str(run), "--evaluation", "test-full"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "has no eval-test-full.json (evaluations: test, validation)" in error
    assert len(error.splitlines()) == 1


def test_a_browser_renders_the_report_without_errors(reported, tmp_path):
    from browser import render

    page = render(reported, tmp_path)
    assert page.console == []  # a blocked resource or a script error would be logged here
    assert page.pixels.shape[:2] == (2400, 1280)
    assert page.pixels.std() > 0.05  # not a blank page
    dom = page.dom
    for heading in ("Summary", "Data", "Training", "Results: data-reviews", "Decision threshold",
                    "ROC and precision-recall curves", "Calibration", "Most confident mistakes",
                    "Least confident predictions", "Timing and throughput"):
        assert f"<h2>{heading}</h2>" in dom, heading
    assert "&lt;script&gt;alert" in dom and "<script>alert" not in dom
