"""`bertclf sweep`: trials of one study, each a normal training run, until the study has enough.

Every process running the same study (same storage and name) claims trials from
the shared count: a process starts a trial only while finished plus running
trials are fewer than `trials`, so together they finish exactly that many, each
once. Claiming is serialised by a lock file beside a local storage (SQLite,
journal file); with a database server, a trial claimed beyond the count is
handed back as failed before any work. A process that finds nothing to claim
waits for other processes' running trials, since one of them may fail and leave
work to redo, then writes the results.

A trial trains in this process with `bertclf.training.train` into
`<output_dir>/<study>/<study>-<id>-trial-NNNN/`, reporting its monitored validation
score to Optuna after every epoch; a pruned trial stops there and its folder is
marked pruned. The objective is the best epoch's `train.monitor` on validation;
the test split is scored, as in every run, but never read to choose.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Optional

from bertclf import artifacts, files
from bertclf.config import Config
from bertclf.config.loading import config_from_mapping, parse_override, read_config_mapping
from bertclf.errors import BertclfError, ConfigError, RunError
from bertclf.sweep import sharing
from bertclf.sweep import study as studies
from bertclf.sweep.space import Dimension, load_space
from bertclf.sweep.trial import run_trial
from bertclf.task import monitor_direction

# A process stops after this many failed trials in a row (a setting no trial survives,
# data that vanished), re-raising the last error rather than failing every remaining trial.
MAX_CONSECUTIVE_FAILURES = 3
DEFAULT_TRIALS = 10
_POLL_SECONDS = 10.0  # how often a process without a trial to claim checks on other processes'
_WAIT_REPORT_SECONDS = 30.0  # how often a waiting process says what it waits for


@dataclasses.dataclass
class SweepOptions:
    """`bertclf sweep`'s options (see the command's help)."""

    trials: Optional[int] = None
    timeout_seconds: Optional[float] = None
    storage: Optional[str] = None
    study: Optional[str] = None
    sampler: str = "tpe"
    pruner: str = "median"


@dataclasses.dataclass
class SweepResult:
    """Where the sweep wrote, and its summary (bertclf.sweep.results.summarise)."""

    study: str
    sweep_dir: Path
    storage: str
    summary: dict
    trials_run_here: list[int]


def run_sweep(config_path: str | Path, space_path: str | Path, overrides: Optional[list[str]] = None,
              options: Optional[SweepOptions] = None) -> SweepResult:
    """Runs trials of a study until it holds `options.trials` finished ones; writes the results.

    Args:
        config_path: The experiment config every trial starts from.
        space_path: The search space (bertclf.sweep.space).
        overrides: `--set KEY=VALUE` items applied to every trial, before its values.
        options: Trials, timeout, storage, study name, sampler, pruner.

    Returns:
        The study's summary after this process's last trial.

    Raises:
        ConfigError: A bad config, space, option or storage (before any trial starts).
        Interrupted: Ctrl-C or SIGTERM during a trial (it is marked failed; run the
            command again to continue the study).
        BertclfError: `MAX_CONSECUTIVE_FAILURES` trials failed in a row (the last error).
    """
    options = options or SweepOptions()
    setup = _prepare(Path(config_path), Path(space_path), overrides or [], options)
    aim = "maximising" if setup.direction == "maximize" else "minimising"
    _say(f"Sweep {setup.study.study_name}: {setup.target} trials over {len(setup.dimensions)} setting(s), "
         f"{aim} {setup.monitor} on validation")
    _say(f"  storage {studies.describe_storage(setup.storage)}; trials in {setup.sweep_dir}")
    ran = _run_trials(setup, options.timeout_seconds)
    from bertclf.sweep.results import write_results

    summary = write_results(setup.study, setup.sweep_dir, setup.storage)
    return SweepResult(setup.study.study_name, setup.sweep_dir, setup.storage, summary, ran)


@dataclasses.dataclass
class _Setup:
    study: Any
    storage: str
    sweep_dir: Path
    dimensions: list[Dimension]
    make_config: Any
    monitor: str
    direction: str
    target: int


def _prepare(config_path: Path, space_path: Path, overrides: list[str], options: SweepOptions) -> _Setup:
    """Everything checked and opened before the first trial: config, space, options, study."""
    raw = read_config_mapping(config_path)
    fixed = dict(parse_override(item) for item in overrides)

    def make_config(params: dict[str, Any]) -> Config:
        return config_from_mapping(raw, str(config_path), config_path.resolve().parent, {**fixed, **params})

    config = make_config({})
    if config.runtime.distribution in ("multi_worker", "tpu"):
        raise ConfigError(f"runtime.distribution: {config.runtime.distribution} is not for sweeps; trials are "
                          f"independent, so run one `bertclf sweep` per machine with the same --storage")
    if options.sampler not in studies.SAMPLERS:
        raise ConfigError(f"--sampler {options.sampler}: choose one of {', '.join(studies.SAMPLERS)}")
    if options.pruner not in studies.PRUNERS:
        raise ConfigError(f"--pruner {options.pruner}: choose one of {', '.join(studies.PRUNERS)}")
    dimensions = load_space(space_path, make_config)
    _require_read_by_trials(dimensions, config, space_path)
    target = options.trials
    if options.sampler == "grid":
        try:
            size = studies.grid_size(dimensions)
        except ConfigError as error:
            raise ConfigError(f"{space_path}: {error}") from None
        if target is not None and target > size:
            raise ConfigError(f"--trials {target}: the grid has {size} point(s); a grid visits each once")
        target = target or size
    target = target or DEFAULT_TRIALS
    if target < 1:
        raise ConfigError(f"--trials {target}: must be at least 1")
    name = studies.check_study_name(options.study or config.experiment.name)
    sweep_dir = Path(config.experiment.output_dir) / name
    sweep_dir.mkdir(parents=True, exist_ok=True)
    storage = options.storage or f"sqlite:///{sweep_dir / artifacts.SWEEP_DB_FILE}"
    monitor = config.train.monitor
    direction = monitor_direction(monitor)

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # bertclf prints each trial's lines
    seed = config.experiment.seed if options.sampler == "grid" else None
    studies.make_storage_folder(storage)  # the lock file goes beside the storage
    lock = studies.storage_lock_file(storage)
    # Processes starting together must not both create the storage's tables or the study.
    with files.process_lock(lock) if lock is not None else contextlib.nullcontext():
        study = optuna.create_study(
            study_name=name, storage=studies.open_storage(storage), load_if_exists=True, direction=direction,
            sampler=studies.make_sampler(options.sampler, dimensions, seed),
            pruner=studies.make_pruner(options.pruner, _trial_epochs(config, dimensions)))
        if study.direction.name.lower() != direction:
            raise ConfigError(f"--study {name}: this study is to {study.direction.name.lower()}, train.monitor "
                              f"{monitor} is to {direction} (choose another --study)")
        differs = studies.record_definition(study, {
            "base_config": json.loads(json.dumps(config.model_dump(mode="json"))),
            "space": [d.describe() for d in dimensions], "monitor": monitor, "direction": direction,
            "sampler": options.sampler, "pruner": options.pruner, "trials": target,
            "id": uuid.uuid4().hex[:6]})  # kept only by the process that creates the study
        baseline = _baseline(config, dimensions) if options.sampler != "grid" and not study.trials else None
        if baseline is not None:
            # The config's own settings first: the table then says what the search gained over it.
            study.enqueue_trial(baseline, user_attrs={"baseline": True})
            _say("Trial 0 trains the config's own settings (the baseline the others are compared with)")
    if differs:
        shown = ", ".join(differs[:6]) + (", ..." if len(differs) > 6 else "")
        _say(f"note: this process's config differs from the one that started study {name} in {shown}; "
             f"its trials train with its own (paths on another machine differ; other settings should not)")
    return _Setup(study, storage, sweep_dir, dimensions, make_config, monitor, direction, target)


def _require_read_by_trials(dimensions: list[Dimension], config: Config, space_path: Path) -> None:
    """Refuses keys no trial reads, before any trial runs: each would train the same model.

    Raises:
        ConfigError: `pretrain.*` (trials fine-tune; pretraining is its own command), or
            `model.tiny.*` while the encoder is not the tiny one.
    """
    for dimension in dimensions:
        if dimension.key.startswith("pretrain."):
            raise ConfigError(f"{space_path}: {dimension.key}: trials fine-tune and never read pretrain.*; "
                              f"compare pretraining settings with one `bertclf pretrain` each, then sweep "
                              f"model.encoder over their encoder folders")
        if dimension.key.startswith("model.tiny.") and config.model.encoder != "tiny":
            raise ConfigError(f"{space_path}: {dimension.key}: model.tiny shapes only the tiny encoder, and "
                              f"model.encoder is {config.model.encoder}; search it with model.encoder: tiny")


def _trial_epochs(config: Config, dimensions: list[Dimension]) -> Any:
    """The most epochs a trial may train, for Hyperband's budget: the searched train.epochs'
    largest value, 'auto' under a time budget (Optuna then takes the first finished trial's
    epochs: the plan decides them), else the config's (its plan's, when it has one)."""
    for dimension in dimensions:
        if dimension.key == "train.epochs":
            return max(dimension.choices) if dimension.kind == "choice" else int(dimension.high)
    if config.train.time_budget is not None and config.train.plan is None:
        return "auto"
    return config.train.run_epochs


def _baseline(config: Config, dimensions: list[Dimension]) -> Optional[dict[str, Any]]:
    """The config's current value of every searched key, if each lies in its dimension."""
    values = {}
    for dimension in dimensions:
        node: Any = config
        for part in dimension.key.split("."):
            node = getattr(node, part)
        value = node
        if dimension.kind == "choice":
            inside = value in dimension.choices
        elif dimension.kind == "int":
            inside = isinstance(value, int) and dimension.low <= value <= dimension.high \
                and (value - dimension.low) % (dimension.step or 1) == 0
        else:
            inside = isinstance(value, (int, float)) and dimension.low <= value <= dimension.high
        if not inside:
            return None
        values[dimension.key] = value
    return values


def _run_trials(setup: _Setup, timeout_seconds: Optional[float]) -> list[int]:
    started = time.monotonic()
    ran: list[int] = []
    failures = 0
    said_at: Optional[float] = None
    while timeout_seconds is None or time.monotonic() - started < timeout_seconds:
        trial, finished, running = _claim(setup)
        if trial is None:
            if finished >= setup.target or running == 0:
                # Nothing left, or nothing alive to wait for (_claim failed the dead ones).
                break
            if said_at is None or time.monotonic() - said_at >= _WAIT_REPORT_SECONDS:
                # Every 30 s, what this process waits for: silence looked like a hang.
                _say(f"{finished} of {setup.target} trials finished; waiting for "
                     f"{', '.join(sharing.running_elsewhere(setup.study)) or 'none'} in another process "
                     f"(one that stops leaves its trial to redo)")
                said_at = time.monotonic()
            time.sleep(_POLL_SECONDS)
            continue
        said_at = None
        ran.append(trial.number)
        error = run_trial(setup, trial, sharing.claimed_before(setup.study, trial.number))
        failures = 0 if error is None else failures + 1
        if error is not None and failures >= MAX_CONSECUTIVE_FAILURES:
            if isinstance(error, BertclfError):
                raise error
            detail = (str(error).strip().splitlines() or [""])[0][:300]
            raise RunError(f"{failures} trials failed in a row, the last with {type(error).__name__}: {detail}; "
                           f"each trial's error is in the sweep's table and its trial.json") from error
    else:
        _say(f"--timeout reached after {time.monotonic() - started:.0f} s; no new trials from this process")
    return ran


def _claim(setup: _Setup):
    """A new trial if the study still needs one: (trial or None, finished, running)."""
    import optuna

    lock = studies.storage_lock_file(setup.storage)
    with files.process_lock(lock) if lock is not None else contextlib.nullcontext():
        sharing.fail_dead_trials(setup.study)
        finished, running = sharing.counts(setup.study)
        if finished + running >= setup.target:
            return None, finished, running
        with warnings.catch_warnings():
            # Optuna warns that its heartbeat is meant for Study.optimize; _Heartbeat beats here.
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            trial = setup.study.ask(studies.distributions(setup.dimensions))
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
    if lock is None and sharing.claimed_before(setup.study, trial.number) >= setup.target:
        # Another machine claimed the last trial at the same moment: hand this one back unused.
        trial.set_user_attr("surplus", True)
        setup.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return None, *sharing.counts(setup.study)
    return trial, finished, running


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
