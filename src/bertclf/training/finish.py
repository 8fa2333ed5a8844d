"""Finishing a run: the exported model, checked, then the files that make the run finished.

The order is the contract (`artifacts.is_finished`): the SavedModel is written
into a staging folder and checked against the in-memory classifier; then
history, evaluations, plots and metrics.json are written; `model/` is renamed
into place last. A crash, Ctrl-C or SIGTERM anywhere before that rename leaves
a run that every command calls unfinished and `train --resume` completes.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Callable, Optional

from bertclf import artifacts, files
from bertclf.config import Config
from bertclf.data import LabelledData
from bertclf.task import ClassificationTask
from bertclf.training.phases import PhaseTimer

# The exported string-input model must reproduce the in-memory model's probabilities, to within
# the rounding of the precision it computes in: a batch padded to another length sums its
# products in another order, which float32 hides and a 16-bit format does not (MiniLM in
# bfloat16, imdb_small's shipped-config test at 32 tokens: 2.3e-4). A wrong weight or
# tokenizer moves probabilities far more.
EXPORT_TOLERANCES = {"float32": 1e-5, "mixed_float16": 2e-3, "mixed_bfloat16": 5e-3}
_EXPORT_CHECK_TEXTS = 32


def export(config: Config, data: LabelledData, preprocessor, classifier, task: ClassificationTask,
           encode: Callable, run_dir: Path, metrics: dict, timer: PhaseTimer, probabilities: Callable) -> Path:
    """Writes the string-input SavedModel into a staging folder and checks it against the classifier.

    `probabilities(classifier, task, encoded, config)` scores with the in-memory classifier.
    Adds `export_check` to `metrics`. Returns the staging folder, which `publish`
    moves into place as `model/` once everything else of the run is written.
    """
    from bertclf.encoders.tokenization import leading_tokens
    from bertclf.encoders.windows import Windowing
    from bertclf.serving.export import check_export, export_serving_model

    print("Exporting the model...", file=sys.stderr, flush=True)
    staging = files.staging_dir(run_dir / artifacts.MODEL_DIR)
    record = metrics.get("threshold", {})
    threshold = record.get("values", record.get("value"))  # per label (multi-label), or one
    with timer.phase("export"):
        export_serving_model(staging, preprocessor, classifier, config.model.seq_length, data.class_names,
                             config.data.truncation, pairs=data.train.pairs is not None, threshold=threshold,
                             task=task, windows=Windowing.of(config.model, leading_tokens(preprocessor)),
                             long_text=config.model.long_text)
    with timer.phase("export_check"):
        check = data.validation.subset(range(min(_EXPORT_CHECK_TEXTS, len(data.validation))))
        expected = probabilities(classifier, task, encode(check), config)
        metrics["export_check"] = check_export(staging, expected, check,
                                                EXPORT_TOLERANCES[metrics["runtime"]["precision"]],
                                                threshold, data.class_names, task)
    return staging


def publish(run_dir: Path, staged_model: Path, metrics: dict, history: dict[str, list[float]],
            evaluations: dict[str, dict], class_names: list[str], timer: Optional[PhaseTimer] = None,
            curve: Optional[dict] = None) -> None:
    """Marks the run finished: history, evaluations, plots and metrics first, then `model/`, last.

    A run is finished when it has `model/` (`artifacts.is_finished`), and `model/` is
    renamed into place only once everything else is written: a crash or a stop
    anywhere before leaves a run that is not finished, that `--resume` completes
    from its checkpoints. Then the checkpoints go and the newest-run pointer is set.
    With a timer, `metrics["timing"]` gets the run's phases, up to writing metrics.json.
    """
    from bertclf.evaluation import write_evaluation
    from bertclf.reporting.plots import write_history
    from bertclf.training import checkpoints

    with timer.phase("reports") if timer else contextlib.nullcontext():
        write_history(run_dir, history, curve)
        for name, record in evaluations.items():
            write_evaluation(run_dir, name, record, class_names)
    if timer is not None:
        metrics["timing"].update(timer.record())
    files.write_json_atomic(run_dir / artifacts.METRICS_FILE, metrics)
    files.publish_dir(staged_model, run_dir / artifacts.MODEL_DIR)
    checkpoints.remove(run_dir)
    artifacts.mark_latest(run_dir)
