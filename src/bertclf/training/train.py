"""Fine-tuning: config in, finished run folder out.

`train` runs named steps in order: read the data (and the task it defines),
start the runtime, load the encoder, tokenize, open the run folder, fit, summarise,
export, publish. Each step takes what the earlier ones returned, so a step can
be read, and tested, on its own.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from bertclf import artifacts, files
from bertclf.config import Config, dump_config
from bertclf.data import LabelledData, load_data
from bertclf.data_check import add_encoded_token_lengths
from bertclf.encoders import (load_preprocessor, loaded_encoders, prepare_encoder, rebuilds_natively,
                              with_native_weights)
from bertclf.encoders.registry import resolve_spec
from bertclf.errors import Interrupted, TrainingDiverged, WorkerLost
from bertclf.task import ClassificationTask
from bertclf.task import task_for as base_task_for
from bertclf.data.report import describe_data
from bertclf.training.budget import prediction_check
from bertclf.training.finish import export, probabilities_of, publish, summarise
from bertclf.training.phases import PhaseTimer
from bertclf.training.planner import plan_run
from bertclf.runtime import signals
from bertclf.runtime.start import Runtime, start_runtime
from bertclf.runtime.tf_setup import import_tensorflow



@dataclasses.dataclass
class TrainResult:
    """Where the run went and what it measured.

    A multi-worker run's other workers get `run_dir` None and empty metrics: the
    chief writes the run folder.
    """

    run_dir: Optional[Path]
    metrics: dict


@dataclasses.dataclass
class _Fitted:
    """What `fit` left: the classifier at its best epoch and the run's training record."""

    classifier: Any
    history: dict
    state: dict
    best_epoch: Optional[int]
    stopped_early: bool
    # Of the restored weights, when the best epoch was scored in this session (else None).
    validation_probabilities: Optional[np.ndarray]
    validation_seconds: float = 0.0  # scoring validation after each epoch, inside fit
    curve: Optional[dict] = None  # training points every few steps and validation per epoch (curves.py)


def train(config: Config, run_dir: Optional[Path] = None, resume: bool = False,
          overwrite: bool = False, started: Optional[float] = None,
          epoch_hook: Optional[Callable[[int, int, dict], None]] = None) -> TrainResult:
    """Fine-tunes the configured encoder and writes a complete run folder.

    The run folder gets the resolved config, labels and data report first, a
    checkpoint after every epoch, then metrics, history and plots, and the
    exported model (renamed into place last) and the newest-run pointer only once
    training and the export check succeed, so a failed or stopped run never looks
    finished (`artifacts.is_finished`). Ctrl-C and SIGTERM end the epoch in
    progress and raise `Interrupted` naming the resume command.

    Args:
        config: The resolved experiment config (on resume: the run's own).
        run_dir: The run folder; None creates `<output_dir>/<name>-<time>/`.
        resume: Continue `run_dir` from its last completed epoch.
        overwrite: Replace an existing `run_dir` (a previous run's folder).
        started: When the command started (`time.perf_counter()`), so the run's
            timing covers what came before this call; default: now.
        epoch_hook: Called as `hook(epoch, epochs, logs)` after each epoch is scored on
            validation and checkpointed (`epochs`: the fit's last epoch, as planned or as early
            stopping just decided; `logs`
            holds `val_*`). An exception it raises ends training there and propagates
            from `train` (a sweep prunes a trial this way).

    Raises:
        BertclfError: For bad data, an unusable encoder, divergence, Ctrl-C and the like.
    """
    from bertclf import progress
    from bertclf.runtime.precision import process_policy_kept

    # The run's precision is the run's: the caller's Keras policy is back when train returns.
    with progress.shown(config.runtime.progress), process_policy_kept():
        return _train(config, run_dir=run_dir, resume=resume, overwrite=overwrite, started=started,
                      epoch_hook=epoch_hook)


def _train(config: Config, run_dir: Optional[Path] = None, resume: bool = False,
           overwrite: bool = False, started: Optional[float] = None,
           epoch_hook: Optional[Callable[[int, int, dict], None]] = None) -> TrainResult:
    """`train` inside its progress setting."""
    from bertclf.training.pipeline import SplitEncoder, windowing

    timer = PhaseTimer(started)
    if run_dir is not None and not resume:
        artifacts.check_claimable(run_dir, overwrite)  # before minutes of reading and measuring
    with timer.phase("data"):
        data, task, class_weight = read_data(config)
    with timer.phase("import"):
        import_tensorflow()
    with timer.phase("runtime"):
        runtime = start_runtime(config)
    with timer.phase("encoder"):
        encoder, preprocessor = load_encoder(config, data, runtime)
    encode = SplitEncoder(preprocessor, config.model.seq_length, config.data.truncation,
                          *windowing(config, preprocessor), timer=timer)
    add_encoded_token_lengths(data, encode, config.model.seq_length,
                              "windows" if config.model.long_text == "windows" else config.data.truncation)
    # Validation too is packed now, with train and test: `fit` seeds TensorFlow again, which
    # clears TensorFlow's cache of instantiated functions, and packing after that instantiated
    # the tokenizer's graph a second time (0.3 s a run with the tiny test encoder's).
    encode(data.validation)
    for warning in data.report["warnings"]:
        _say(f"warning: {warning}")
    chief = runtime.distribution.is_chief
    with timer.phase("plan"):
        planned = plan_run(config, data, task, class_weight, encoder, encode, runtime, encode.subset,
                           saved_record=artifacts.read_plan(run_dir) if resume else None)
    config, data = planned.config, planned.data
    run_dir, state = open_run(config, data, run_dir, resume, overwrite, writes=chief, plan=planned.record)
    with timer.phase("fit"):
        fitted = fit(config, data, task, class_weight, encoder, encode, run_dir, state, runtime, epoch_hook)
    timer.reassign("fit", "validation", fitted.validation_seconds)
    if not chief:
        _say("Training done; the chief scores, exports and writes the run folder.")
        return TrainResult(None, {})
    metrics, evaluations = summarise(config, data, task, class_weight, encoder, runtime, fitted, encode, timer)
    if planned.record is not None:
        metrics["plan"] = dict(planned.record, measured_fit_seconds=metrics["timing"]["fit_seconds"])
        warning = prediction_check(planned.record, metrics["timing"]["fit_seconds"])
        if warning:
            _say(warning)
    staged_model = export(config, data, preprocessor, fitted.classifier, task, encode, run_dir, metrics, timer,
                          probabilities_of)
    publish(run_dir, staged_model, metrics, fitted.history, evaluations, data.class_names, timer, fitted.curve)
    # Nothing uses the trained classifier after its export: the next classifier this process
    # builds (a sweep's next trial, the next seed, the ONNX export's) takes its loaded encoder.
    loaded_encoders.release(fitted.classifier)
    if config.export.onnx:
        export_after_training(run_dir, config, data, encoder)
    return TrainResult(run_dir, metrics)


def export_after_training(run_dir: Path, config: Config, data: LabelledData, encoder) -> None:
    """`export.onnx`: the finished run's ONNX export; a failure leaves the run finished and says so."""
    from bertclf.errors import BertclfError
    from bertclf.serving.export_command import export_run

    try:
        export_run(run_dir, "onnx", config.export.quantize, data=data, encoder=encoder)
    except BertclfError as error:
        raise type(error)(f"the run is finished ({run_dir}), but its ONNX export failed: {error} (again: "
                          f"bertclf export {run_dir} --format onnx)") from None


def read_data(config: Config) -> tuple[LabelledData, ClassificationTask, Optional[dict[int, float]]]:
    """Reads the splits and checks the settings that depend on the classes found.

    Raises:
        BertclfError: Unreadable data, an unknown class in train.class_weight, or a
            monitored metric the task does not define.
    """
    _say("Reading data...")
    data = load_data(config.data, config.experiment.seed)
    _say(describe_data(data))
    task = base_task_for(config.data.multi_label, len(data.class_names))
    if config.data.multi_label:  # its class weights live in the loss, as per-label positive weights
        task = task.with_class_weight(config.train.class_weight, data.class_names, data.train.labels)
    class_weight = task.class_weight(config.train.class_weight, data.class_names, data.train.labels)
    task.check_monitor(config.train.monitor)
    task.check_threshold(config.train.threshold)
    return data, task, class_weight


def load_encoder(config: Config, data: LabelledData, runtime: Runtime):
    """The encoder (rebuilt natively where `encoders.rebuilds_natively` says) and its preprocessor."""
    spec = resolve_spec(config.model)
    if spec.source != "tiny" and config.model.tiny != type(config.model.tiny)():
        # A config written for the tiny encoder, run with --set model.encoder=...: say it, do not fail.
        _say(f"warning: model.tiny shapes only the tiny encoder; it is not used with model.encoder "
             f"{config.model.encoder}")
    encoder = prepare_encoder(spec, config.model, data.train.texts, config.experiment.seed)
    if rebuilds_natively(config.model, runtime.precision.precision):
        encoder = with_native_weights(encoder)
    return encoder, load_preprocessor(encoder.preprocess_handle)


def open_run(config: Config, data: LabelledData, run_dir: Optional[Path], resume: bool,
             overwrite: bool, writes: bool = True,
             plan: Optional[dict] = None) -> tuple[Optional[Path], Optional[dict]]:
    """The run folder to write, with its config, labels, data report and plan; its state if resumed.

    With `writes` False (a multi-worker run's other workers), nothing is written:
    a resumed run's state is read from the chief's folder, and a new run has no
    folder here (None).

    Raises:
        RunError: Resuming a finished run or one trained on other classes; a
            --run-dir that holds another run without --overwrite.
    """
    from bertclf.training import checkpoints

    state = None
    if resume:
        artifacts.require_unfinished(run_dir)
        artifacts.require_same_classes(run_dir, data.class_names)
        state = checkpoints.read_state(run_dir)
        if not writes:
            return run_dir, state
        removed = artifacts.remove_stale_staging(run_dir)
        if removed:
            _say(f"Removed what the interrupted finish left: {', '.join(removed)}")
    elif not writes:
        return None, None
    elif run_dir is None:
        run_dir = artifacts.create_run_dir(config.experiment.output_dir, config.experiment.name)
    else:
        run_dir = artifacts.claim_run_dir(run_dir, overwrite)
    _say(f"Run folder: {run_dir}")
    if not resume:
        files.write_text_atomic(run_dir / artifacts.CONFIG_FILE, dump_config(config))
        files.write_json_atomic(run_dir / artifacts.LABELS_FILE, data.class_names)
        if plan is not None:
            files.write_json_atomic(run_dir / artifacts.PLAN_FILE, plan)
    files.write_json_atomic(run_dir / artifacts.DATA_REPORT_FILE, data.report)
    return run_dir, state


def fit(config: Config, data: LabelledData, task: ClassificationTask, class_weight: Optional[dict],
        encoder, encode: Callable, run_dir: Optional[Path], state: Optional[dict], runtime: Runtime,
        epoch_hook: Optional[Callable[[int, int, dict], None]] = None) -> _Fitted:
    """Builds and trains the classifier, checkpointing every epoch; restores the best epoch.

    The classifier, optimizer and metrics are built in the strategy's scope and
    trained on every replica; under a strategy, what is returned is an
    undistributed twin holding the best epoch's weights, so scoring and export
    never involve other replicas or workers.

    Raises:
        Interrupted: Ctrl-C or SIGTERM (the last completed epoch is saved).
        TrainingDiverged: The loss became NaN or infinite.
        WorkerLost: Another worker of a multi-worker run stopped answering.
    """
    from bertclf.model import build_classifier
    from bertclf.training.optimizer import build_optimizer, create_slots
    from bertclf.training import checkpoints
    from bertclf.training.callbacks import EpochHook, FitProgress, StopGuard, ValidationMetrics
    from bertclf.training.curves import StepCurve, points_interval
    from bertclf.training.pipeline import distributed_training_dataset, steps_per_epoch

    import tf_keras

    batch_size, bucketing, epochs = config.train.batch_size, config.data.bucketing, config.train.run_epochs
    # Seeded again: preparing the encoder may have drawn random numbers (building a tiny encoder
    # does, loading it from the cache does not), and the classifier's initial weights and
    # dropout must not depend on what the cache held.
    tf_keras.utils.set_random_seed(config.experiment.seed)
    distribution = runtime.distribution
    steps = steps_per_epoch(encode.training(data.train).training_examples, batch_size)
    with distribution.scope():
        classifier = build_classifier(encoder, task, config.model)
        classifier.compile(optimizer=build_optimizer(config.train, steps * epochs),
                           jit_compile=runtime.jit_compile, **task.compile_arguments())
        create_slots(classifier)
    # Scoring and export use a twin built outside the strategy (see ValidationMetrics).
    local = build_classifier(encoder, task, config.model) if distribution.distributed else None
    guard = StopGuard(steps)
    validation = ValidationMetrics(encode(data.validation), data.class_names, config.train.monitor, batch_size,
                                   bucketing, config.train.early_stopping_patience, guard, scorer=local, task=task)
    curve = StepCurve(batch_size, points_interval(steps * epochs), guard, (state or {}).get("curve"))
    saver = checkpoints.RunCheckpoint(run_dir, validation, guard, state, writes_run_folder=distribution.is_chief,
                                      precision=runtime.precision.precision, curve=curve)
    callbacks = [guard, validation, curve, saver]
    hook = EpochHook(epoch_hook, guard) if epoch_hook is not None else None
    if hook is not None:
        callbacks.append(hook)
    if config.runtime.tensorboard and distribution.is_chief:
        from bertclf.training.tensorboard import TensorBoardLog

        callbacks.append(TensorBoardLog(run_dir / artifacts.TENSORBOARD_DIR, dump_config(config),
                                        config.runtime.tensorboard_steps, guard, batch_size))
    # Keras draws its bar on stdout: a bar only where stdout is a terminal (`> log` would fill the
    # log with carriage returns); elsewhere bertclf's own lines on stderr, every 15 s.
    keras_bar = config.runtime.progress and sys.stdout.isatty()
    if config.runtime.progress and not keras_bar:
        # First, so that an epoch's line closes before validation scores it: otherwise its
        # last lines count validation's minutes as training time per step.
        callbacks.insert(0, FitProgress(epochs, steps))
    first_epoch = 0
    if state is not None:
        checkpoints.restore(classifier, state, run_dir, runtime.precision.precision)
        validation.load_state(state["validation"])
        first_epoch = state["epochs_completed"]
        _say(f"Resuming after epoch {first_epoch} (optimizer step {state['optimizer_steps']}).")
    if first_epoch < epochs and not validation.stopped_early:
        _say(f"Training {encoder.spec.name} for {epochs - first_epoch} epoch(s) of {steps} steps...")
        batches = distributed_training_dataset(distribution.strategy, encode.training(data.train), batch_size, task,
                                               config.experiment.seed, first_epoch, epochs, bucketing,
                                               class_weight)
        try:
            classifier.fit(batches, epochs=epochs, initial_epoch=first_epoch, steps_per_epoch=steps,
                           callbacks=callbacks,
                           verbose=1 if keras_bar else 2)
        except KeyboardInterrupt:  # a second Ctrl-C or SIGTERM
            raise Interrupted(_resume_hint(run_dir, saver.epochs_completed, _stopped_by(signals.last_signal())),
                              signum=signals.last_signal()) from None
        except runtime.tf.errors.OpError as error:
            if distribution.workers <= 1 or not isinstance(error, _lost_worker_errors(runtime.tf)):
                raise
            detail = (error.message or "").strip().splitlines()[0][:200] if error.message else ""
            raise WorkerLost(f"a worker stopped answering ({type(error).__name__}: {detail}); "
                             + _resume_hint(run_dir, saver.epochs_completed, "the run stopped", workers=True)
                             ) from None
        finally:
            guard.restore_handlers()
            saver.close()
        if guard.interrupted:
            raise Interrupted(_resume_hint(run_dir, saver.epochs_completed, _stopped_by(guard.signum)),
                              signum=guard.signum)
        if hook is not None and hook.raised is not None:
            raise hook.raised
    if guard.diverged_at is not None:
        epoch, step = guard.diverged_at
        rate = config.train.learning_rate
        raise TrainingDiverged(
            f"training diverged: the loss became NaN/inf in epoch {epoch}, step {step}; lower "
            f"train.learning_rate (now {rate:g}), e.g. --set train.learning_rate={rate / 10:g}. "
            + _resume_hint(run_dir, saver.epochs_completed, "The run stopped"))
    if not distribution.is_chief:
        return _Fitted(classifier, saver.history, {}, None, validation.stopped_early, None, validation.seconds)
    if local is not None:
        local.set_weights(classifier.get_weights())
        classifier = local
    final_state = saver.state()
    best_epoch = checkpoints.restore_best_weights(classifier, final_state, run_dir)
    scored = validation.best_probabilities if best_epoch is not None and best_epoch == validation.best_epoch else None
    return _Fitted(classifier, saver.history, final_state, best_epoch, validation.stopped_early, scored,
                   validation.seconds, final_state.get("curve"))


def _lost_worker_errors(tf) -> tuple:
    # What collectives raise when a peer dies or the cluster's health check aborts them.
    return (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
            tf.errors.AbortedError, tf.errors.InternalError)


def _resume_hint(run_dir: Optional[Path], epochs_completed: int, what: str, workers: bool = False) -> str:
    if not epochs_completed:
        return f"{what} before the first epoch ended; nothing to resume (start again)"
    saved = "epoch 1 is" if epochs_completed == 1 else f"epochs 1-{epochs_completed} are"
    where = run_dir if run_dir is not None else "RUN (the chief's run folder)"
    every = " on every worker" if workers else ""
    return f"{what}; {saved} saved. Resume with: bertclf train --resume {where}{every}"


def _stopped_by(signum: int) -> str:
    return "interrupted" if signum == signal.SIGINT else f"stopped by {signals.describe(signum)}"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
