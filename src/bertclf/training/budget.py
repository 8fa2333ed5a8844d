"""Planning a run to a wall-clock budget (`train.time_budget`).

A fixed data size cannot suit machines whose speed differs 2-3x; a budget can.
Before training, `training.probe` measures what this model costs on this
machine and these batches (`StepCosts`); `choose_plan` then picks the largest
training set, and the most epochs up to `train.epochs`, whose predicted fit ends
within the budget; the warmup/decay schedule is built for exactly the planned
steps, so it decays to zero at the budget instead of being cut short (Li, Yumer
and Ramanan, "Budgeted Training", ICLR 2020).

The plan is a record: `metrics.json` gets it, and the run's `config.yaml` gets
`train.plan` (examples and epochs), so training from that config repeats the
run on any machine without measuring again. This module is pure Python: the
planner is a function of measured times, testable without TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Optional

from bertclf.data.splits import sample
from bertclf.durations import format_duration
from bertclf.errors import ConfigError

# A plan's prediction that misses the measured fit by more than this share, and by more than
# the seconds below (a fit of a few seconds is all noise), is reported as a warning.
PREDICTION_TOLERANCE = 0.15
_PREDICTION_TOLERANCE_SECONDS = 10.0


@dataclasses.dataclass
class StepCosts:
    """What one run of this config costs on this machine, measured before training.

    Attributes:
        step_seconds: One training step, after tracing, averaged over the batch
            lengths this training data gives.
        trace_seconds: Once per fit: tracing the training and scoring functions
            for every batch length the fit meets.
        validation_seconds: One scoring pass over the validation split (after tracing).
        checkpoint_seconds: Saving one epoch's checkpoint.
        probe_seconds: What measuring all this took (spent out of the budget).
        probe_steps: Training steps timed.
    """

    step_seconds: float
    trace_seconds: float
    validation_seconds: float
    checkpoint_seconds: float
    probe_seconds: float
    probe_steps: int = 0

    def fit_seconds(self, steps_per_epoch: int, epochs: int) -> float:
        """Predicted wall time of `fit` for this many steps and epochs (validation included)."""
        return (self.trace_seconds
                + epochs * (steps_per_epoch * self.step_seconds + self.validation_seconds + self.checkpoint_seconds))


@dataclasses.dataclass
class Plan:
    """The size a budget buys, and the figures it was predicted from."""

    budget_seconds: float
    available_examples: int
    train_examples: int
    epochs: int
    steps: int
    predicted_fit_seconds: float
    costs: StepCosts

    def record(self, seq_length: int, precision: str) -> dict:
        """`metrics.json`'s `plan`."""
        return {"budget_seconds": round(self.budget_seconds, 1),
                "step_seconds": round(self.costs.step_seconds, 4),
                "train_examples": self.train_examples,
                "available_examples": self.available_examples,
                "epochs": self.epochs, "steps": self.steps,
                "predicted_fit_seconds": round(self.predicted_fit_seconds, 1),
                "probe_seconds": round(self.costs.probe_seconds, 1),
                "probe_steps": self.costs.probe_steps,
                "trace_seconds": round(self.costs.trace_seconds, 1),
                "validation_seconds": round(self.costs.validation_seconds, 1),
                "checkpoint_seconds": round(self.costs.checkpoint_seconds, 2),
                "seq_length": seq_length, "precision": precision, "measured": True}


def steps_per_epoch(examples: int, batch_size: int) -> int:
    """Batches per training epoch: bucketing windows are whole batches, so only the last is partial."""
    return -(-examples // batch_size)


def choose_plan(budget_seconds: float, available_examples: int, max_epochs: int, batch_size: int,
                costs: StepCosts, budget_text: Optional[str] = None, per_text: float = 1.0) -> Plan:
    """The largest run predicted to end within the budget, the probe's own time included.

    All the examples, with as many epochs as fit (up to `max_epochs`), when one
    epoch of all of them fits; else one epoch of the largest number of whole
    batches that fits. `per_text`: training examples per text (train.windows: all reads
    every window of a text; the plan counts texts, its steps the windows they hold).

    Raises:
        ConfigError: Not even one training step fits; names `train.time_budget`
            and the smallest budget that would do.
    """
    available = budget_seconds - costs.probe_seconds
    full_steps = steps_per_epoch(math.ceil(available_examples * per_text), batch_size)
    for epochs in range(max_epochs, 0, -1):
        predicted = costs.fit_seconds(full_steps, epochs)
        if predicted <= available:
            return Plan(budget_seconds, available_examples, available_examples, epochs, full_steps * epochs,
                        predicted, costs)
    one_epoch_fixed = costs.fit_seconds(0, 1)
    steps = math.floor((available - one_epoch_fixed) / costs.step_seconds) if costs.step_seconds > 0 else 0
    if steps < 1:
        minimum = costs.probe_seconds + costs.fit_seconds(1, 1)
        shown = budget_text if budget_text is not None else f"{budget_seconds:g}"
        raise ConfigError(
            f"train.time_budget: {shown} is too short for one training step of this config on this machine "
            f"(measuring took {costs.probe_seconds:.0f} s, tracing {costs.trace_seconds:.0f} s, a step "
            f"{costs.step_seconds:.2f} s, a validation pass {costs.validation_seconds:.0f} s); give at "
            f"least {math.ceil(minimum)}s, or drop the budget")
    examples = min(available_examples, math.floor(steps * batch_size / per_text))
    steps = steps_per_epoch(math.ceil(examples * per_text), batch_size)
    return Plan(budget_seconds, available_examples, examples, 1, steps, costs.fit_seconds(steps, 1), costs)


def plan_line(plan: Plan, seq_length: int, unit: str = "examples") -> str:
    """The one line a budgeted run prints before training."""
    epochs = f"{plan.epochs} epoch{'s' if plan.epochs != 1 else ''}"
    return (f"Plan: {plan.train_examples:,} of {plan.available_examples:,} {unit}, {epochs}, {plan.steps:,} "
            f"steps; predicted fit {format_duration(plan.predicted_fit_seconds)} of the "
            f"{format_duration(plan.budget_seconds)} budget (step {plan.costs.step_seconds:.3g} s at "
            f"{seq_length} tokens, measured; measuring took {plan.costs.probe_seconds:.0f} s)")


def planned_indices(labels: list[int], examples: int, seed: int, stratify: bool = True) -> list[int]:
    """The seeded (by default stratified: `data.stratify`) training rows a plan of `examples` keeps
    (all of them if it asks for more)."""
    if examples >= len(labels):
        return list(range(len(labels)))
    # Its own generator, seeded by the run's seed: the same rows whenever the plan is repeated.
    return sorted(sample(labels, examples, random.Random(f"plan-{seed}"), stratify))


def prediction_check(plan_record: dict, measured_fit_seconds: float) -> Optional[str]:
    """A warning when the measured fit missed the plan's prediction by more than the tolerance."""
    predicted = plan_record.get("predicted_fit_seconds")
    if not predicted or not plan_record.get("measured"):
        return None
    miss = measured_fit_seconds / predicted - 1
    if abs(miss) <= PREDICTION_TOLERANCE or abs(measured_fit_seconds - predicted) <= _PREDICTION_TOLERANCE_SECONDS:
        return None
    return (f"warning: the fit took {measured_fit_seconds:.0f} s, {miss:+.0%} against the plan's "
            f"{predicted:.0f} s (the machine's speed changed during the run, or the probe's batches were "
            f"unlike the rest); the plan is kept in metrics.json")


def require_single_worker(workers: int) -> None:
    """A budget is planned by one process; several workers would each plan their own size.

    Raises:
        ConfigError: More than one worker and no `train.plan`.
    """
    if workers > 1:
        raise ConfigError("train.time_budget: a multi-worker run cannot plan itself (each worker would measure "
                          "its own size); plan on one machine, then train every worker from that run's "
                          "config.yaml, which holds train.plan")

