"""`bertclf report`: one self-contained HTML page about a finished run.

Everything comes from the run folder's files (config, data report, history,
metrics and the `eval-*.json` records that `train` and `evaluate` write), so a
report needs no model and no TensorFlow. Figures are drawn with matplotlib and
inlined as PNG data; the page is a Jinja2 template with autoescaping, so texts
from the data (reviews containing `<script>`, say) show as text; its content
security policy forbids scripts and every network request.
"""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Optional

import jinja2
import yaml

from bertclf import artifacts, files
from bertclf.errors import RunError

TEMPLATE = "report.html.j2"
# Which evaluation the report is about when none is named: the most complete test score first.
_PREFERRED_EVALUATIONS = ("test-full", "test", "validation-full", "validation")


def write_report(run_dir: Path, evaluation: Optional[str] = None) -> Path:
    """Writes `RUN/report.html` and returns its path.

    Args:
        run_dir: A finished run folder.
        evaluation: The `eval-<name>.json` to report on (e.g. `test-full`,
            `data-reviews`); by default the fullest test evaluation there is.

    Raises:
        RunError: The run did not finish, or the named evaluation does not exist.
    """
    page = render_report(run_dir, evaluation)
    path = run_dir / artifacts.REPORT_FILE
    files.write_text_atomic(path, page)
    return path


def render_report(run_dir: Path, evaluation: Optional[str] = None) -> str:
    """The report page's HTML (see `write_report`)."""
    from bertclf.reporting import plots

    if not artifacts.is_finished(run_dir):
        raise RunError(f"{run_dir}: the run did not finish (no {artifacts.MODEL_DIR}/); a report needs a finished "
                       f"run. Resume it with: bertclf train --resume {run_dir}")
    metrics = _read_json(run_dir, artifacts.METRICS_FILE, "the run did not finish; a report needs a finished run")
    class_names = artifacts.read_labels(run_dir)
    data_report = _read_json(run_dir, artifacts.DATA_REPORT_FILE)
    history = _read_json(run_dir, artifacts.HISTORY_JSON_FILE)
    config_text = (run_dir / artifacts.CONFIG_FILE).read_text(encoding="utf-8")
    config = yaml.safe_load(config_text)
    evaluations = _evaluations(run_dir)
    name = _chosen_evaluation(run_dir, evaluations, evaluation)
    chosen = evaluations.get(name)
    analysis = (chosen or {}).get("analysis", {})
    threshold = (chosen or {}).get("threshold")
    seq_length = config["model"]["seq_length"]

    curve = _read_json(run_dir, artifacts.STEP_HISTORY_FILE) if (run_dir / artifacts.STEP_HISTORY_FILE).is_file() \
        else None
    images = {"history": inline_png(plots.history_figure(history, curve)) if history.get("loss") else None}
    images["token_lengths"] = [
        (split, inline_png(plots.token_length_figure(entry["tokens"]["histogram"], seq_length, split)))
        for split, entry in data_report["splits"].items() if "histogram" in entry.get("tokens", {})]
    multi_label = bool(data_report.get("multi_label"))
    if chosen and multi_label:
        from bertclf.reporting.multilabel_plots import co_occurrence_figure, label_scores_figure

        images["label_scores"] = inline_png(label_scores_figure(
            chosen["per_label"], f"{name} ({chosen['examples']} examples)"))
        images["co_occurrence"] = inline_png(co_occurrence_figure(
            analysis["co_occurrence"], f"true labels of the same text, {name}"))
    elif chosen:
        images["confusion"] = inline_png(plots.confusion_figure(
            chosen["confusion_matrix"], class_names, f"{name} ({chosen['examples']} examples)"))
        images["calibration"] = inline_png(plots.calibration_figure(analysis["calibration"])) \
            if "calibration" in analysis else None
        if "roc" in analysis:
            images["roc"] = inline_png(plots.roc_figure(analysis["roc"], chosen.get("roc_auc"), threshold))
            images["pr"] = inline_png(plots.pr_figure(analysis["pr"], chosen.get("pr_auc"), threshold))

    return template_environment().get_template(TEMPLATE).render(
        run_name=run_dir.name, run_dir=str(run_dir.resolve()), generated=generated_now(),
        config=config, config_text=config_text, metrics=metrics, class_names=class_names,
        data_report=data_report, history=history, history_rows=_history_rows(history),
        evaluations=evaluations, evaluation_name=name, evaluation=chosen, analysis=analysis,
        threshold=threshold, positive=class_names[1] if len(class_names) == 2 and not multi_label else None,
        multi_label=multi_label,
        timing=_timing(metrics, chosen), images=images, onnx=_onnx_export(run_dir))


def template_environment() -> jinja2.Environment:
    """The pages' templates (this folder), escaping by default, with the `number` filter."""
    environment = jinja2.Environment(loader=jinja2.PackageLoader("bertclf", "reporting"), autoescape=True,
                                     trim_blocks=True, lstrip_blocks=True)
    environment.filters["number"] = _number
    return environment


def _chosen_evaluation(run_dir: Path, evaluations: dict, wanted: Optional[str]) -> Optional[str]:
    if wanted is not None:
        if wanted not in evaluations:
            known = ", ".join(evaluations) or "none"
            raise RunError(f"{run_dir}: has no {artifacts.eval_file(wanted)} (evaluations: {known}); "
                           f"run `bertclf evaluate` first or pick another --evaluation")
        return wanted
    for name in _PREFERRED_EVALUATIONS:
        if name in evaluations:
            return name
    return next(iter(evaluations), None)


def _evaluations(run_dir: Path) -> dict[str, dict]:
    found = {}
    for path in sorted(run_dir.glob(artifacts.eval_file("*"))):
        name = path.name[len(artifacts.eval_file("")) - len(".json"):-len(".json")]
        try:
            found[name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a foreign or damaged file: the report shows what it can
    return found


def _onnx_export(run_dir: Path) -> Optional[dict]:
    """The ONNX export's record (`bertclf export`), if the run has one."""
    path = run_dir / artifacts.EXPORT_DIR / artifacts.ONNX_SUBDIR / artifacts.ONNX_META_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _history_rows(history: dict) -> list[dict]:
    epochs = len(history.get("loss", []))
    return [{key: values[i] for key, values in history.items() if i < len(values)} for i in range(epochs)]


def _timing(metrics: dict, evaluation: Optional[dict]) -> dict:
    fit = metrics.get("timing", {}).get("fit_seconds") or 0.0
    seen = metrics.get("train_examples", 0) * metrics.get("epochs", 0)
    timing = {"fit_seconds": fit, "train_examples_per_second": seen / fit if fit else None}
    if evaluation and evaluation.get("timing"):
        timing["evaluation"] = evaluation["timing"]
    return timing


def _read_json(run_dir: Path, name: str, missing: str = "the run folder is incomplete"):
    path = run_dir / name
    if not path.is_file():
        raise RunError(f"{run_dir}: has no {name}; {missing}")
    return json.loads(path.read_text(encoding="utf-8"))


def inline_png(figure) -> str:
    """A matplotlib figure as base64 PNG for an <img src="data:...">, closing it."""
    from bertclf.reporting.plots import png_bytes

    return base64.b64encode(png_bytes(figure)).decode("ascii")


def _number(value, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def generated_now() -> str:
    """When a page was written, as pages show it."""
    return datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
