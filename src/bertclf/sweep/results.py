"""A study's results: the trial table, the best trial, best.yaml, sweep.json and the sweep page.

Everything is read back from the storage, so any process of the study (or
`bertclf sweep --report`) writes the same files from what all processes did.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Optional

from bertclf import artifacts, files
from bertclf.config.loading import config_from_mapping, dump_config
from bertclf.errors import ConfigError


def summarise(study) -> dict[str, Any]:
    """The study as data: definition, one row per trial (number order), the best trial."""
    definition = study.user_attrs.get("bertclf") or {}
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("surplus"):  # claimed beyond --trials and handed back unused
            continue
        seconds = None
        if trial.datetime_start is not None and trial.datetime_complete is not None:
            seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
        value = trial.value
        if value is None and trial.intermediate_values:  # a pruned trial: its last report
            value = trial.intermediate_values[max(trial.intermediate_values)]
        rows.append({"trial": trial.number, "state": trial.state.name.lower(), "value": value,
                     "epochs_reported": len(trial.intermediate_values), "params": dict(trial.params),
                     "seconds": seconds, "run_dir": trial.user_attrs.get("run_dir"),
                     "host": trial.user_attrs.get("host"), "error": trial.user_attrs.get("error"),
                     "baseline": bool(trial.user_attrs.get("baseline"))})
    best = None
    complete = [row for row in rows if row["state"] == "complete" and row["value"] is not None]
    if complete:
        pick = max if definition.get("direction") == "maximize" else min
        best = pick(complete, key=lambda row: row["value"])
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return {"study": study.study_name, "monitor": definition.get("monitor"),
            "direction": definition.get("direction"), "space": definition.get("space", []),
            "sampler": definition.get("sampler"), "pruner": definition.get("pruner"),
            "trials_requested": definition.get("trials"), "counts": counts, "trials": rows,
            "best": best}


def best_config_text(study, summary: dict) -> Optional[str]:
    """The best trial's config as YAML: the config its run folder saved (what it trained with;
    each process trains with its own base config), or where that folder is on another machine,
    the study's base config with the trial's values. Without a time budget's plan, so that
    training it plans again on its machine."""
    import yaml

    definition = study.user_attrs.get("bertclf") or {}
    if summary["best"] is None:
        return None
    saved = Path(summary["best"]["run_dir"] or "") / artifacts.CONFIG_FILE
    if summary["best"]["run_dir"] and saved.is_file():
        base, overrides, source = yaml.safe_load(saved.read_text(encoding="utf-8")), {}, str(saved)
    elif "base_config" in definition:
        base, overrides = copy.deepcopy(definition["base_config"]), dict(summary["best"]["params"])
        source = f"study {study.study_name}"
    else:
        return None
    base.get("train", {}).pop("plan", None)
    config = config_from_mapping(base, source, overrides=overrides)
    header = (f"# The best trial of sweep {study.study_name}: trial {summary['best']['trial']}, "
              f"{summary['monitor']} {summary['best']['value']:.4f} on validation.\n"
              f"# Train it again: bertclf train best.yaml (--seeds 3 for its interval over seeds).\n")
    return header + dump_config(config)


def write_results(study, sweep_dir: Path, storage: str) -> dict[str, Any]:
    """Writes sweep.json, best.yaml (once a trial completed) and sweep.html into `sweep_dir`.

    Returns:
        The summary (as `summarise`), with the files written under `files`.
    """
    from bertclf.sweep.page import write_page
    from bertclf.sweep.study import describe_storage

    summary = summarise(study)
    summary["storage"] = describe_storage(storage)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    best = best_config_text(study, summary)
    if best is not None:
        files.write_text_atomic(sweep_dir / artifacts.SWEEP_BEST_FILE, best)
        written["best"] = str(sweep_dir / artifacts.SWEEP_BEST_FILE)
    written["page"] = str(write_page(study, summary, sweep_dir / artifacts.SWEEP_REPORT_FILE, best))
    written["summary"] = str(sweep_dir / artifacts.SWEEP_SUMMARY_FILE)
    summary["files"] = written
    files.write_json_atomic(sweep_dir / artifacts.SWEEP_SUMMARY_FILE, summary)
    return summary


def open_report(study_ref: str, storage: Optional[str], runs_dir: Path):
    """The study `sweep --report` names: a sweep folder, or a study name (in --storage, or
    in `<runs_dir>/<name>/`'s default storage). Returns (study, sweep folder, storage).

    Raises:
        ConfigError: No such folder, storage or study.
    """
    import optuna

    from bertclf.sweep.study import open_storage

    folder = Path(study_ref)
    if storage is None:
        if not (folder / artifacts.SWEEP_DB_FILE).is_file():
            folder = runs_dir / study_ref
        if not (folder / artifacts.SWEEP_DB_FILE).is_file():
            raise ConfigError(f"--report {study_ref}: no sweep folder with a {artifacts.SWEEP_DB_FILE} there or in "
                              f"{runs_dir}/; name the sweep's folder, or give its --storage")
        storage = f"sqlite:///{folder.resolve() / artifacts.SWEEP_DB_FILE}"
    name = folder.name
    try:
        study = optuna.load_study(study_name=name, storage=open_storage(storage))
    except KeyError:
        raise ConfigError(f"--report {study_ref}: no study named {name} in that storage") from None
    definition = study.user_attrs.get("bertclf") or {}
    if not (folder / artifacts.SWEEP_DB_FILE).is_file() and "base_config" in definition:
        folder = Path(definition["base_config"]["experiment"]["output_dir"]) / name
    return study, folder, storage


def table(summary: dict) -> str:
    """The trial table as aligned text: number, state, score, time, values."""
    keys = param_keys(summary)
    head = ["trial", "state", summary.get("monitor") or "value", "time"] + [key.split(".")[-1] for key in keys]
    lines = [head]
    for row in summary["trials"]:
        value = "" if row["value"] is None else f"{row['value']:.4f}"
        if row["state"] == "pruned" and row["value"] is not None:
            value += f" @{row['epochs_reported']}"
        seconds = "" if row["seconds"] is None else duration(row["seconds"])
        number = f"{row['trial']} (config)" if row.get("baseline") else str(row["trial"])
        lines.append([number, row["state"], value, seconds]
                     + [_short(row["params"].get(key)) for key in keys])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines]
    best = summary["best"]
    if best is not None:
        text.append(f"Best: trial {best['trial']}, {summary['monitor']} {best['value']:.4f} ({best['run_dir']})")
        baseline = next((row for row in summary["trials"] if row.get("baseline")), None)
        if baseline is not None and baseline["state"] == "complete" and baseline["value"] is not None:
            text.append(f"The config's own settings (trial {baseline['trial']}): {baseline['value']:.4f}")
    else:
        text.append("Best: none yet (no trial completed)")
    return "\n".join(text)


def param_keys(summary: dict) -> list[str]:
    """The searched keys in the space file's order (as the user wrote them), then any others."""
    ordered = [line.split(":", 1)[0] for line in summary.get("space") or []]
    seen = {key for row in summary["trials"] for key in row["params"]}
    return [key for key in ordered if key in seen] + sorted(seen - set(ordered))


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def duration(seconds: float) -> str:
    """Seconds as 4m05s (or 45s), for tables."""
    if not math.isfinite(seconds):
        return ""
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"
