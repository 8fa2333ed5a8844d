"""Which run `bertclf train --resume` continues, and with which config (no TensorFlow here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from bertclf import artifacts
from bertclf.config import Config, load_config, require_runtime_overrides
from bertclf.errors import ConfigError, RunError

# What may differ between a run's saved config and the one it is resumed with:
# how the machine runs it, not what is trained.
_MAY_CHANGE = ("runtime",)  # as config.require_runtime_overrides


def resolve_resume(target: Path, overrides: list[str], run: Optional[Path] = None) -> tuple[Path, Config]:
    """The run folder to continue and its config.

    Args:
        target: A run folder, or an experiment config whose newest unfinished
            run is continued.
        overrides: `--set` values; only `runtime.*` may differ from the run's config.
        run: With a config as `target`, the run folder to continue instead of the
            newest unfinished one (`bertclf train CONFIG --resume RUN`).

    Raises:
        ConfigError: A setting differs from the run's saved config.
        RunError: No such run, or it is not resumable.
    """
    require_runtime_overrides(overrides)
    target = Path(target)
    if target.is_dir():
        if run is not None:
            raise ConfigError(f"--resume {target} {run}: give a run folder, or a config and then a run folder")
        return target, _run_config(target, overrides)
    config = load_config(target, overrides)
    run_dir = Path(run) if run is not None else find_resumable(Path(config.experiment.output_dir),
                                                                config.experiment.name)
    saved = _run_config(run_dir, overrides)
    _require_same(config, saved, run_dir)
    return run_dir, saved


def _run_config(run_dir: Path, overrides: list[str]) -> Config:
    if not (run_dir / artifacts.CONFIG_FILE).is_file():
        raise RunError(f"{run_dir}: not a run folder (no {artifacts.CONFIG_FILE}); "
                       f"give the folder `bertclf train` printed")
    artifacts.require_unfinished(run_dir)
    return load_config(run_dir / artifacts.CONFIG_FILE, overrides)


def find_resumable(output_dir: Path, experiment: str) -> Path:
    """The newest run of `experiment` in `output_dir` that has not finished.

    Raises:
        RunError: There is none.
    """
    candidates = [path for path in Path(output_dir).glob(f"{experiment}-*")
                  if path.is_dir() and artifacts.is_run_of(path.name, experiment)
                  and (path / artifacts.CONFIG_FILE).is_file()
                  and not artifacts.is_finished(path)]
    if not candidates:
        raise RunError(f"{output_dir}: no unfinished run of {experiment!r} to resume; start one with "
                       f"`bertclf train CONFIG`, or name the run folder: --resume RUN")
    return max(candidates, key=lambda path: path.name)


def _require_same(given: Config, saved: Config, run_dir: Path) -> None:
    given_values, saved_values = given.model_dump(), saved.model_dump()
    if given.train.plan is None:
        # The plan that train.time_budget chose is the run's, not the config's: it stays.
        given_values["train"]["plan"] = saved_values["train"]["plan"]
    difference = _first_difference(given_values, saved_values)
    if difference is not None:
        key, now, then = difference
        raise ConfigError(f"{key}: the config says {now!r}, the run {run_dir} was started with {then!r}; "
                          f"a resumed run keeps its config (start a new run to change it)")


def _first_difference(now: Any, then: Any, prefix: str = "") -> Optional[tuple[str, Any, Any]]:
    if isinstance(now, dict) and isinstance(then, dict):
        for key in sorted(set(now) | set(then)):
            found = _first_difference(now.get(key), then.get(key), f"{prefix}{key}.")
            if found is not None and not found[0].startswith(_MAY_CHANGE):
                return found
        return None
    return None if now == then else (prefix.rstrip("."), now, then)
