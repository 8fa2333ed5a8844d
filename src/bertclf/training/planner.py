"""The planning step of a budgeted run: measure this model's costs here, choose the size, apply it.

`measure_costs` trains a throwaway copy of the run's classifier (same encoder,
precision, strategy, optimizer and batches) for a few steps, scores a length-spread
sample of validation three times (traced, then steady: the faster of two) and writes one checkpoint; the
copy is then dropped, so the run itself starts from the same weights as an
unbudgeted one. `plan_run` turns the measurement into a `budget.Plan`, or takes
`train.plan` from the config as is (a saved run config, a resumed run, later seeds).
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import tf_keras

from bertclf.config import Config, RunPlan
from bertclf.data import LabelledData, Split
from bertclf.encoders import loaded_encoders
from bertclf.task import ClassificationTask
from bertclf.training import budget
from bertclf.training.pipeline import (EncodedSplit, batch_width, distributed_training_dataset, plan_batches,
                                       predict_logits)
from bertclf.runtime.start import Runtime

# Training steps the probe times at most, and the share of the budget it may spend on them.
_PROBE_STEPS = 16
_PROBE_SHARE = 0.06
_PROBE_MIN_SECONDS = 15.0
# Validation batches scored (three times) to price a validation pass.
_VALIDATION_SAMPLE_BATCHES = 6


@dataclasses.dataclass
class PlannedRun:
    """What the planning step hands on: the config with `train.plan`, the data cut to it, the record."""

    config: Config
    data: LabelledData
    record: Optional[dict]


def plan_run(config: Config, data: LabelledData, task: ClassificationTask, class_weight, encoder,
             encode: Callable, runtime: Runtime, subset: Callable[[Split, list[int]], Split],
             saved_record: Optional[dict] = None) -> PlannedRun:
    """Applies `train.plan`, or plans one from `train.time_budget`; unbudgeted runs pass through.

    Args:
        encode: The run's packer (`SplitEncoder`): split in, token ids out (`.training`: as trained on).
        subset: Cuts a split to rows, keeping its packed ids (`SplitEncoder.subset`).
        saved_record: The plan record a resumed run wrote when it was planned.

    Raises:
        ConfigError: The budget is too short for one step, or several workers would plan.
    """
    train = config.train
    if train.plan is None and train.time_budget is None:
        return PlannedRun(config, data, None)
    outdated = outdated_plan(config)
    if outdated:
        _say(f"train.plan was made for {outdated}; planning again")
        config = config.model_copy(deep=True)
        config.train.plan = None
        train, saved_record = config.train, None
        if train.time_budget is None:
            return PlannedRun(config, data, None)
    if train.plan is not None:
        record = saved_record or {"train_examples": train.plan.train_examples, "epochs": train.plan.epochs,
                                  "budget_seconds": train.time_budget_seconds, "measured": False}
        if train.plan.train_examples > len(data.train):
            _say(f"warning: train.plan asks for {train.plan.train_examples:,} training examples; the data "
                 f"gives {len(data.train):,}, and all of them are used")
        return PlannedRun(config, _cut(data, train.plan.train_examples, config.experiment.seed, subset,
                                               config.data.stratify), record)
    budget.require_single_worker(runtime.distribution.workers)
    _say(f"Measuring this run's step time for its {budget_text(config)} budget...")
    from bertclf.progress import Progress

    with Progress("Measuring", None, "steps"):  # building, tracing and timing: a minute on a CPU
        costs = measure_costs(config, data, task, class_weight, encoder, encode, runtime,
                              max_seconds=max(_PROBE_MIN_SECONDS, _PROBE_SHARE * train.time_budget_seconds))
    # train.windows: all reads every window of a text: the plan counts texts, its steps their windows.
    per_text = encode.training(data.train).training_examples / max(1, len(data.train))
    plan = budget.choose_plan(train.time_budget_seconds, len(data.train), train.epochs, train.batch_size, costs,
                              budget_text(config), per_text)
    unit = "texts (every window of each)" if per_text > 1 else "examples"
    _say(budget.plan_line(plan, config.model.seq_length, unit))
    planned = config.model_copy(deep=True)
    planned.train.plan = RunPlan(train_examples=plan.train_examples, epochs=plan.epochs,
                                 budget_seconds=train.time_budget_seconds, max_epochs=train.epochs)
    record = plan.record(config.model.seq_length, runtime.precision.precision)
    return PlannedRun(planned, _cut(data, plan.train_examples, config.experiment.seed, subset,
                                               config.data.stratify), record)


def outdated_plan(config: Config) -> Optional[str]:
    """What a saved `train.plan` was made for, when the config now asks for another budget or
    epoch count (say, `--set train.time_budget=20m` on a run's config.yaml); None if it still fits."""
    train, plan = config.train, config.train.plan
    if plan is None:
        return None
    if plan.budget_seconds is not None and train.time_budget_seconds != plan.budget_seconds:
        now = f"{budget_text(config)}" if train.time_budget is not None else "no budget"
        return f"a {plan.budget_seconds:g} s budget and train.time_budget is now {now}"
    if plan.max_epochs is not None and train.epochs != plan.max_epochs:
        return f"at most {plan.max_epochs} epoch(s) and train.epochs is now {train.epochs}"
    return None


def budget_text(config: Config) -> str:
    budget_value = config.train.time_budget
    return budget_value if isinstance(budget_value, str) else f"{budget_value:g} s"


def _cut(data: LabelledData, examples: int, seed: int, subset: Callable, stratify: bool) -> LabelledData:
    indices = budget.planned_indices(list(data.train.labels), examples, seed, stratify)
    report = dict(data.report, plan={"train_examples": len(indices), "available_examples": len(data.train)})
    if len(indices) == len(data.train):
        return dataclasses.replace(data, report=report)
    return dataclasses.replace(data, train=subset(data.train, indices), report=report)


def measure_costs(config: Config, data: LabelledData, task: ClassificationTask, class_weight, encoder,
                  encode: Callable, runtime: Runtime, max_seconds: float = 60.0,
                  max_steps: int = _PROBE_STEPS) -> budget.StepCosts:
    """Times this config's training steps, a validation pass and a checkpoint, on a throwaway classifier."""
    from bertclf.model import build_classifier
    from bertclf.training.optimizer import build_optimizer, create_slots

    started = time.perf_counter()
    train, batch_size, bucketing = config.train, config.train.batch_size, config.data.bucketing
    distribution = runtime.distribution
    encoded = encode.training(data.train)
    with distribution.scope():
        model = build_classifier(encoder, task, config.model)
        model.compile(optimizer=build_optimizer(train, 10_000), jit_compile=runtime.jit_compile,
                      **task.compile_arguments())
        create_slots(model)  # as the run does: its step is traced once
    scorer = build_classifier(encoder, task, config.model) if distribution.distributed else model
    # The run's own first-epoch batches, in its order: the probe meets the lengths the fit meets first.
    order = plan_batches(encoded.lengths, batch_size, bucketing, config.experiment.seed, 0)
    widths = [batch_width(encoded, indices, bucketing) for indices in order]
    clock = _StepClock(started + max_seconds)
    batches = distributed_training_dataset(distribution.strategy, encoded, batch_size, task,
                                           config.experiment.seed, 0, 1, bucketing, class_weight)
    model.fit(batches, epochs=1, steps_per_epoch=min(max_steps, len(order)), callbacks=[clock], verbose=0)
    step_seconds, train_trace = step_costs(clock.seconds, widths[:len(clock.seconds)], widths)
    if scorer is not model:
        scorer.set_weights(model.get_weights())
    validation_seconds, predict_trace = _validation_costs(scorer, encode(data.validation), batch_size, bucketing)
    checkpoint_seconds = _checkpoint_seconds(runtime.tf, model)
    # The throwaway copy is done with: the run's own classifier takes its loaded encoder.
    loaded_encoders.release(model)
    if scorer is not model:
        loaded_encoders.release(scorer)
    return budget.StepCosts(step_seconds=step_seconds, trace_seconds=train_trace + predict_trace,
                            validation_seconds=validation_seconds, checkpoint_seconds=checkpoint_seconds,
                            probe_seconds=time.perf_counter() - started, probe_steps=len(clock.seconds))


def step_costs(step_times: list[float], step_widths: list[int], all_widths: list[int]) -> tuple[float, float]:
    """(mean steady step over `all_widths`, tracing over the distinct widths) from timed probe steps.

    The first step at each width traces it: its excess over that width's steady
    time is tracing. Steady time per width is modelled as a + b x width, fitted
    to the widths seen more than once (proportional to width when only one was);
    the fit meets every distinct width in `all_widths`, each traced once.
    """
    seen: dict[int, list[float]] = {}
    first: dict[int, float] = {}
    for seconds, width in zip(step_times, step_widths):
        if width in first:
            seen.setdefault(width, []).append(seconds)
        else:
            first[width] = seconds
    steady = {width: statistics.median(times) for width, times in seen.items()}
    if not steady:  # every timed step traced a new width: the cheapest is the best bound on a step
        width, seconds = min(first.items(), key=lambda item: item[1])
        steady = {width: seconds}
    if len(steady) >= 2:
        slope, intercept = np.polyfit(list(steady), list(steady.values()), 1)
        if slope <= 0:  # noise between close widths: fall back to the mean
            slope, intercept = 0.0, float(np.mean(list(steady.values())))
        floor = min(steady.values()) * 0.5

        def steady_time(width: int) -> float:
            return max(intercept + slope * width, floor)
    else:
        (known, seconds), = steady.items()

        def steady_time(width: int) -> float:
            return seconds * width / known
    mean_step = float(np.mean([steady_time(width) for width in all_widths])) if all_widths else 0.0
    traces = [max(0.0, first[width] - steady_time(width)) for width in first]
    per_width = float(np.mean(traces)) if traces else 0.0
    return mean_step, per_width * len(set(all_widths))



def _validation_costs(model, encoded: EncodedSplit, batch_size: int, bucketing: bool) -> tuple[float, float]:
    """(one steady validation pass, tracing its widths): a length-spread sample scored three times.

    The first pass traces; the faster of the next two is the steady cost. A single timed
    pass once priced a 142 s validation at 215 s (imdb_small, 2026-12-06: the plan took 5,824
    reviews where a run whose steps cost the same took 6,656); interference only adds time,
    so the faster pass is the better estimate.
    """
    count = len(encoded)
    if not count:
        return 0.0, 0.0
    by_length = np.argsort(encoded.lengths, kind="stable")
    take = min(count, batch_size * _VALIDATION_SAMPLE_BATCHES)
    sample = by_length[np.linspace(0, count - 1, take).round().astype(int)]
    sampled = EncodedSplit(encoded.word_ids[sample], encoded.type_ids[sample], encoded.lengths[sample],
                           encoded.labels[sample])
    timings = []
    for _ in range(3):
        begun = time.perf_counter()
        predict_logits(model, sampled, batch_size, bucketing)
        timings.append(time.perf_counter() - begun)
    traced, steady = timings[0], min(timings[1:])
    padded_sample = _padded_tokens(sampled, batch_size, bucketing)
    padded_all = _padded_tokens(encoded, batch_size, bucketing)
    return steady * padded_all / max(padded_sample, 1), max(0.0, traced - steady)


def _padded_tokens(encoded: EncodedSplit, batch_size: int, bucketing: bool) -> int:
    return sum(len(indices) * batch_width(encoded, indices, bucketing)
               for indices in plan_batches(encoded.lengths, batch_size, bucketing))


def _checkpoint_seconds(tf, model) -> float:
    with tempfile.TemporaryDirectory(prefix="bertclf-probe-") as folder:
        begun = time.perf_counter()
        tf.train.Checkpoint(model=model, optimizer=model.optimizer).write(str(Path(folder) / "probe"))
        return time.perf_counter() - begun


class _StepClock(tf_keras.callbacks.Callback):
    """Wall time of every training step (input waits included, as in the fit); stops at a deadline."""

    def __init__(self, deadline: float):
        super().__init__()
        self.deadline, self.seconds, self._last = deadline, [], 0.0

    def on_train_batch_begin(self, batch: int, logs: Optional[dict] = None) -> None:
        if batch == 0:
            self._last = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        now = time.perf_counter()
        self.seconds.append(now - self._last)
        self._last = now
        # At least two steps, so one of them is steady when the first traced.
        if now >= self.deadline and len(self.seconds) >= 2:
            self.model.stop_training = True


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
