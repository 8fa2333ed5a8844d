"""Opening a sweep's Optuna study: storage URLs, samplers, pruners, and what the study records.

Optuna is the engine: its storages let any number of processes, on one machine or
many, share a study. bertclf adds what a study does not hold by itself, as study
attributes: the resolved base config, the space and the objective, so that a
second process (or `bertclf sweep --report`) needs only the storage and the name.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, Optional

from bertclf.config.loading import flatten_dotted
from bertclf.errors import ConfigError
from bertclf.sweep.space import Dimension, optuna_distribution

SAMPLERS = ("tpe", "grid", "random")
CLAIM_LOCK_SUFFIX = ".claims.lock"
PRUNERS = ("median", "hyperband", "none")
# A study's name is also its folder's name.
_STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# Trials on other machines prove they are alive this often (RDB storages); one silent for
# the grace period counts as dead and is marked failed, so its share of --trials is redone.
HEARTBEAT_SECONDS, GRACE_SECONDS = 60, 180
# SQLite waits this long for another process's write instead of failing at once.
_SQLITE_TIMEOUT_SECONDS = 60
# MedianPruner: compare from the third trial on (two finished trials give a median), at
# every epoch. Optuna's default of five startup trials is for studies of hundreds.
_MEDIAN_STARTUP_TRIALS = 2
# The pip package for a database driver module SQLAlchemy could not import (SQLAlchemy 2.1
# reads postgresql:// with psycopg 3, postgresql+psycopg2:// with psycopg2).
_DRIVER_PACKAGES = {"psycopg": "'psycopg[binary]'", "psycopg2": "psycopg2-binary", "pymysql": "pymysql",
                    "MySQLdb": "mysqlclient", "?": "the driver the URL names"}


def check_study_name(name: str) -> str:
    """Refuses study names that cannot be folder names.

    Raises:
        ConfigError: Characters other than letters, digits, `.`, `_` and `-`.
    """
    if not _STUDY_NAME.fullmatch(name):
        raise ConfigError(f"--study {name!r}: use letters, digits, '.', '_' and '-' (it names the sweep's folder)")
    return name


def storage_lock_file(storage: str) -> Optional[Path]:
    """The file beside a local storage that serialises claiming trials; None for a server.

    Not `<storage>.lock`: Optuna's journal storage locks with a symlink of that name, and
    would wait out its 30-second grace period on every write while bertclf held it.
    """
    path = _local_storage_path(storage)
    return path.with_name(path.name + CLAIM_LOCK_SUFFIX) if path is not None else None


def describe_storage(storage: str) -> str:
    """The storage URL with any password hidden, for logs and files."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", storage)


def make_storage_folder(storage: str) -> None:
    """Creates the folder of a local storage (SQLite file, journal) if it is missing.

    Raises:
        ConfigError: The folder cannot be made (a file in the way, no permission).
    """
    path = _local_storage_path(storage)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"--storage {storage}: cannot create its folder {path.parent} "
                          f"({error.strerror or error})") from None


def open_storage(storage: str):
    """An Optuna storage for `sqlite:///PATH`, another SQLAlchemy URL, or `journal:PATH`.

    Raises:
        ConfigError: An unreadable URL, a database driver that is not installed, or a
            database that cannot be reached.
    """
    import optuna

    if storage.startswith("journal:"):
        path = _local_storage_path(storage)
        make_storage_folder(storage)
        from optuna.storages.journal import JournalFileBackend

        try:
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        except OSError as error:
            raise ConfigError(f"--storage {storage}: cannot open it ({error.strerror or error})") from None
    if "://" not in storage:
        raise ConfigError(f"--storage {storage}: expected a database URL (sqlite:///PATH, "
                          f"postgresql://USER:PASSWORD@HOST/DB, mysql+pymysql://...) or journal:PATH")
    engine_kwargs: dict[str, Any] = {}
    if storage.startswith("sqlite:"):
        make_storage_folder(storage)
        engine_kwargs = {"connect_args": {"timeout": _SQLITE_TIMEOUT_SECONDS}}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(storage, engine_kwargs=engine_kwargs,
                                              heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS)
    except ImportError as error:
        # Optuna wraps the driver's ModuleNotFoundError in an ImportError of its own.
        cause = error if error.name else (error.__cause__ or error.__context__)
        driver = getattr(cause, "name", None) or "?"
        package = _DRIVER_PACKAGES.get(driver.split(".")[0], driver)
        raise ConfigError(f"--storage {describe_storage(storage)}: its database driver ({driver}) is not "
                          f"installed; pip install {package}") from None
    except Exception as error:  # SQLAlchemy's errors: a bad URL, an unreachable server
        detail = str(error).strip().splitlines()[0][:200]
        raise ConfigError(f"--storage {describe_storage(storage)}: cannot open it ({type(error).__name__}: "
                          f"{detail})") from None


def make_sampler(name: str, dimensions: list[Dimension], seed: Optional[int]):
    """Optuna's sampler for `--sampler`.

    TPE and random search are not seeded when several processes may share a study
    (`seed` None): seeded alike, they would draw the same settings. A grid is visited in
    an order seeded by the experiment's seed, and Optuna skips points another process runs.

    Raises:
        ConfigError: An unknown sampler, or a grid over a continuous range.
    """
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return _grid_sampler({d.key: d.grid() for d in dimensions}, seed)
    raise ConfigError(f"--sampler {name}: choose one of {', '.join(SAMPLERS)}")


def make_pruner(name: str, max_epochs: Any):
    """Optuna's pruner for `--pruner`; trials report their monitored score once per epoch.

    `max_epochs` (Hyperband's largest budget): the most epochs a trial trains, or "auto".

    Raises:
        ConfigError: An unknown pruner.
    """
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=_MEDIAN_STARTUP_TRIALS, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs if max_epochs == "auto"
                                              else max(int(max_epochs), 1))
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"--pruner {name}: choose one of {', '.join(PRUNERS)}")


def _grid_sampler_class():
    import optuna

    class GridSampler(optuna.samplers.GridSampler):
        """Optuna's grid, without its `study.stop()` once every point is taken: that call only
        works inside `study.optimize`, and bertclf's own loop counts the trials."""

        def after_trial(self, study, trial, state, values) -> None:
            return None

    return GridSampler


def _grid_sampler(search_space, seed):
    return _grid_sampler_class()(search_space, seed=seed)


def grid_size(dimensions: list[Dimension]) -> int:
    """How many points a grid over these dimensions has."""
    size = 1
    for dimension in dimensions:
        size *= len(dimension.grid())
    return size


def distributions(dimensions: list[Dimension]) -> dict[str, Any]:
    """Each dimension's Optuna distribution, by config key (what `study.ask` draws from)."""
    return {dimension.key: optuna_distribution(dimension) for dimension in dimensions}


def record_definition(study, definition: dict[str, Any]) -> list[str]:
    """Stores the sweep's definition in a new study, or checks it against the recorded one.

    `definition` holds `base_config` (the resolved config, as data), `space`
    (the dimensions as written), `monitor` and `direction`.

    Returns:
        The dotted config keys where this process's base config differs from the
        study's (another machine's paths, say): its trials run with its own.

    Raises:
        ConfigError: The study exists with another space or objective.
    """
    recorded = study.user_attrs.get("bertclf")
    if recorded is None:
        study.set_user_attr("bertclf", definition)
        return []
    for key, what in (("monitor", "train.monitor"), ("space", "space")):
        if recorded.get(key) != definition.get(key):
            raise ConfigError(f"--study {study.study_name}: this study was started with another {what}; "
                              f"a study continues with the same space and train.monitor (choose another "
                              f"--study, or run the original command)")
    theirs, ours = flatten_dotted(recorded.get("base_config", {})), flatten_dotted(definition.get("base_config", {}))
    return sorted(key for key in set(theirs) | set(ours) if theirs.get(key) != ours.get(key))


def _local_storage_path(storage: str) -> Optional[Path]:
    if storage.startswith("journal:"):
        return Path(storage.removeprefix("journal:").removeprefix("//")).expanduser()
    if storage.startswith("sqlite:///") and storage != "sqlite:///:memory:":
        return Path(storage.removeprefix("sqlite:///")).expanduser()
    return None
