"""`bertclf train CONFIG --seeds N`: the same experiment under N seeds, and the spread of its scores.

A budgeted config is planned once, by the first seed; every later seed trains
the same plan (examples and epochs), so the seeds differ only in what the seed
draws: the sampled rows, the initial head, dropout and the data order.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from bertclf import artifacts
from bertclf.config import Config, RunPlan
from bertclf.errors import ConfigError
from bertclf.reporting.seeds import summary_lines, write_group

if TYPE_CHECKING:
    from bertclf.training.train import TrainResult


@dataclasses.dataclass
class SeedsResult:
    """The group folder, each seed's run and the summary written to `seeds.json`."""

    group_dir: Path
    runs: list[TrainResult]
    summary: dict


def train_seeds(config: Config, seeds: int, started: Optional[float] = None) -> SeedsResult:
    """Trains `seeds` runs with seeds `experiment.seed`, +1, ...; summarises them after each one.

    Raises:
        ConfigError: `seeds` below 2.
        BertclfError: As `train`, for any of the runs (the group keeps the runs before it).
    """
    if seeds < 2:
        raise ConfigError(f"--seeds {seeds}: give at least 2 (one run says nothing about the noise)")
    from bertclf.training.train import train  # TensorFlow: after the arguments are known to be good

    name, first_seed = config.experiment.name, config.experiment.seed
    group_dir = artifacts.create_run_dir(config.experiment.output_dir, f"{name}-seeds")
    numbers = [first_seed + k for k in range(seeds)]
    results: list[TrainResult] = []
    plan = config.train.plan
    group: dict = {}
    for index, seed in enumerate(numbers):
        _say(f"Seed {seed} ({index + 1} of {seeds}); the group: {group_dir}")
        seeded = config.model_copy(deep=True)
        seeded.experiment.seed = seed
        seeded.experiment.name = f"{name}-seed{seed}"
        seeded.train.plan = plan
        result = train(seeded, started=started if index == 0 else None)
        if result.run_dir is None:  # a multi-worker run's other worker: the chief summarises
            continue
        results.append(result)
        if plan is None and "plan" in result.metrics:
            plan = RunPlan(train_examples=result.metrics["plan"]["train_examples"],
                           epochs=result.metrics["plan"]["epochs"])
        group = write_group(group_dir, name, numbers, [r.run_dir for r in results], [r.metrics for r in results],
                            plan.model_dump() if plan is not None else None)
    for line in summary_lines(group.get("summary", {})):
        _say(line)
    return SeedsResult(group_dir, results, group.get("summary", {}))


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
