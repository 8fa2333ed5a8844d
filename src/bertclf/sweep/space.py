"""A sweep's search space: dotted config keys mapped to distributions, checked before any trial.

A space file is YAML:

    train.learning_rate: {log_uniform: [1.0e-5, 2.0e-4]}
    model.seq_length: {choice: [128, 256]}
    train.warmup_fraction: {uniform: [0.0, 0.2]}
    train.epochs: {int: [1, 3]}            # or [low, high, step]

Every key must be a setting of the config schema, and every value a distribution
can draw must be one the schema accepts: the bounds of a range (and, for `int`,
each value) and every choice are validated against the experiment's config, so a
mistake is one line before the first trial starts, never a failed trial an hour in.
No Optuna and no TensorFlow here; `optuna_distribution` converts when a sweep runs.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from bertclf.errors import ConfigError

KINDS = ("choice", "uniform", "log_uniform", "int")
# Settings a sweep may not vary: its trials share one process (runtime.*), the sweep names
# the trial folders (experiment.name, experiment.output_dir), the objective is train.monitor,
# and a budget's plan is measured per trial (train.plan).
_FIXED = {"experiment.name": "the sweep names each trial's folder after the study",
          "experiment.output_dir": "the sweep writes its trials under one folder",
          "train.monitor": "it is the sweep's objective; set it in the config or with --set",
          "train.plan": "a time budget fills it in for each trial"}
_FIXED_SECTIONS = {"runtime": "the trials of a sweep process share one runtime; set runtime.* with --set"}
_INT_VALUES_CHECKED = 1000  # an `int` range with at most this many values has each checked


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One searched setting: the dotted config key and what values it may take."""

    key: str
    kind: str
    low: Any = None
    high: Any = None
    step: Optional[int] = None
    choices: tuple = ()

    def describe(self) -> str:
        """The dimension as a user wrote it, for tables and logs."""
        if self.kind == "choice":
            return f"{self.key}: choice {list(self.choices)}"
        step = f" step {self.step}" if self.step not in (None, 1) else ""
        return f"{self.key}: {self.kind} [{self.low}, {self.high}]{step}"

    def grid(self) -> list:
        """The values a grid search visits.

        Raises:
            ConfigError: A continuous range (a grid needs a finite list).
        """
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return list(range(self.low, self.high + 1, self.step or 1))
        raise ConfigError(f"{self.key}: a grid search needs a finite list of values, not a {self.kind} range; "
                          f"use {{choice: [...]}} or --sampler tpe")


def load_space(path: str | Path, validate: Callable[[dict[str, Any]], None]) -> list[Dimension]:
    """Reads and checks a space file.

    Args:
        path: The space YAML.
        validate: Checks the experiment's config with some keys set to given values
            (a dict of dotted keys); raises ConfigError if the config refuses them.

    Returns:
        The dimensions, in file order.

    Raises:
        ConfigError: A missing or malformed file, an unknown or fixed key, a
            malformed distribution, or a value the config schema refuses. The
            message names the file and the key.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such space file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: YAML error: {str(error).splitlines()[0]}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the space as UTF-8") from None
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{path}: expected a mapping of dotted config keys to distributions, for example "
                          f"train.learning_rate: {{log_uniform: [1.0e-5, 2.0e-4]}}")
    dimensions = [parse_dimension(str(key), value, str(path)) for key, value in raw.items()]
    for dimension in dimensions:
        check_key(dimension.key, str(path))
        for value in _values_to_check(dimension):
            try:
                validate({dimension.key: value})
            except ConfigError as error:
                reason = "; ".join(_without_origin(line, dimension.key) for line in str(error).splitlines())
                raise ConfigError(f"{path}: {dimension.key}: the config refuses {value!r}: {reason}") from None
    return dimensions


def parse_dimension(key: str, value: Any, source: str) -> Dimension:
    """One `key: {kind: args}` entry as a Dimension.

    Raises:
        ConfigError: Not one known kind, or bounds of the wrong shape or order.
    """
    where = f"{source}: {key}"
    usage = ("expected one of {choice: [a, b, ...]}, {uniform: [low, high]}, {log_uniform: [low, high]}, "
             "{int: [low, high]} or {int: [low, high, step]}")
    if not isinstance(value, dict) or len(value) != 1:
        raise ConfigError(f"{where}: {usage}; got {value!r}")
    (kind, args), = value.items()
    if kind not in KINDS:
        close = difflib.get_close_matches(str(kind), KINDS, n=1)
        hint = f"did you mean {close[0]}?" if close else f"use one of {', '.join(KINDS)}"
        raise ConfigError(f"{where}: unknown distribution {kind!r}; {hint}")
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise ConfigError(f"{where}: choice needs a non-empty list of values; got {args!r}")
        if not all(v is None or isinstance(v, (bool, int, float, str)) for v in args):
            raise ConfigError(f"{where}: choice values must be numbers, strings, booleans or null (what Optuna "
                              f"stores); got {args!r}")
        if len({yaml.safe_dump(v) for v in args}) != len(args):
            raise ConfigError(f"{where}: choice lists a value twice; list each value once")
        return Dimension(key, kind, choices=tuple(args))
    shape = "[low, high] or [low, high, step]" if kind == "int" else "[low, high]"
    if not isinstance(args, list) or len(args) not in ((2, 3) if kind == "int" else (2,)):
        raise ConfigError(f"{where}: {kind} needs {shape}; got {args!r}")
    numbers = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
    if len(numbers) != len(args) or not all(math.isfinite(a) for a in numbers):
        raise ConfigError(f"{where}: {kind} bounds must be numbers; got {args!r}")
    if kind == "int":
        if not all(float(a).is_integer() for a in args):
            raise ConfigError(f"{where}: int bounds must be whole numbers; got {args!r}")
        low, high, step = int(args[0]), int(args[1]), int(args[2]) if len(args) == 3 else 1
        if step < 1:
            raise ConfigError(f"{where}: int step must be at least 1; got {step}")
    else:
        low, high, step = float(args[0]), float(args[1]), None
    if not low < high:
        raise ConfigError(f"{where}: {kind} needs low < high; got [{args[0]}, {args[1]}]")
    if kind == "log_uniform" and low <= 0:
        raise ConfigError(f"{where}: log_uniform needs bounds above 0; got [{args[0]}, {args[1]}]")
    return Dimension(key, kind, low=low, high=high, step=step)


def check_key(key: str, source: str) -> None:
    """Refuses keys a sweep cannot vary and keys naming a whole section.

    Raises:
        ConfigError: An unknown key (with the closest valid one), a fixed key, a
            runtime key or a section.
    """
    from bertclf.config.loading import suggest_key

    parts = tuple(key.split("."))
    for depth in range(1, len(parts) + 1):
        if _field(parts[:depth]) is None:
            raise ConfigError(f"{source}: {key}: unknown config key; {suggest_key(parts[:depth])}")
    if key in _FIXED:
        raise ConfigError(f"{source}: {key}: a sweep cannot vary it: {_FIXED[key]}")
    section = key.split(".", 1)[0]
    if section in _FIXED_SECTIONS:
        raise ConfigError(f"{source}: {key}: a sweep cannot vary it: {_FIXED_SECTIONS[section]}")
    if _is_section(key):
        raise ConfigError(f"{source}: {key}: is a section; search one of its keys (for example {key}.<key>)")


def optuna_distribution(dimension: Dimension):
    """The Optuna distribution drawing this dimension's values."""
    from optuna import distributions

    if dimension.kind == "choice":
        return distributions.CategoricalDistribution(list(dimension.choices))
    if dimension.kind == "int":
        return distributions.IntDistribution(dimension.low, dimension.high, step=dimension.step or 1)
    return distributions.FloatDistribution(dimension.low, dimension.high, log=dimension.kind == "log_uniform")


def _values_to_check(dimension: Dimension) -> list:
    if dimension.kind == "choice":
        return list(dimension.choices)
    if dimension.kind == "int":
        values = dimension.grid()
        return values if len(values) <= _INT_VALUES_CHECKED else [dimension.low, dimension.high]
    # A schema's numeric limits are intervals: both ends inside means every value between is.
    return [dimension.low, dimension.high]


def _field(parts: tuple) -> Any:
    """The schema's annotation at a dotted path, or None when there is no such key."""
    from bertclf.config.schema import Config

    model: Any = Config
    for part in parts:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        model = field.annotation
    return model


def _is_section(key: str) -> bool:
    from pydantic import BaseModel

    model = _field(tuple(key.split(".")))
    return isinstance(model, type) and issubclass(model, BaseModel)


def _without_origin(message: str, key: str) -> str:
    # The config's messages start with where a value came from ("--set: k: ..."), which
    # here is the space file, already named.
    message = message.split(": ", 1)[-1] if message.startswith(("--set: ", "config: ")) else message
    return message.removeprefix(f"{key}: ")
