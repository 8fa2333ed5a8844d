"""Continued masked-LM pretraining: config in, adapted encoder folder out.

The configured encoder (`pretrain.encoder`, else `model.encoder`) is rebuilt
natively as tf-models-official's `BertEncoder`, wrapped in `BertPretrainerV2`
(whose `MaskedLM` head shares the word embeddings), and trained on the corpus
of `bertclf.pretraining.corpus`, masked by `bertclf.pretraining.masking`, with
the fine-tuning optimizer (AdamW, warmup, linear decay). Every
`checkpoint_steps` it scores the held-out sequences and checkpoints, so an
interrupted run resumes (`--resume`) with its step count. At the end the
encoder is exported in float32 as an ordinary encoder folder (encoder,
preprocessor, vocabulary, manifest) that `model.encoder` can name.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from bertclf import artifacts, files
from bertclf.config import Config, TrainConfig, dump_config
from bertclf.data import load_data
from bertclf.encoders import ResolvedEncoder, load_preprocessor, prepare_encoder
from bertclf.encoders.registry import resolve_spec
from bertclf.errors import ConfigError, Interrupted, RunError, TrainingDiverged
from bertclf.pretraining.corpus import PackedCorpus, gather_texts, pack_corpus, special_ids
from bertclf.training.phases import PhaseTimer
from bertclf.runtime import signals
from bertclf.runtime.start import start_runtime
from bertclf.runtime.tf_setup import import_tensorflow

# Texts tokenized per call of the preprocessor's `tokenize`.
_TOKENIZE_CHUNK = 2048


@dataclasses.dataclass
class PretrainResult:
    """The run folder, the adapted encoder folder and what the run measured."""

    run_dir: Path
    encoder_dir: Path
    metrics: dict


def pretrain(config: Config, run_dir: Optional[Path] = None, resume: bool = False,
             overwrite: bool = False, started: Optional[float] = None) -> PretrainResult:
    """Runs masked-LM pretraining as `config.pretrain` says.

    Args:
        config: The resolved config (on resume: the run's own).
        run_dir: The run folder; None creates `<output_dir>/<name>-pretrain-<time>/`.
        resume: Continue `run_dir` from its last checkpoint.
        overwrite: Let `pretrain.output` (or `run_dir`) replace an earlier one.
        started: When the command started (`time.perf_counter()`).

    Raises:
        BertclfError: Bad data or encoder, a distribution pretraining does not
            support, divergence, Ctrl-C.
    """
    from bertclf import progress
    from bertclf.runtime.precision import process_policy_kept

    with progress.shown(config.runtime.progress), process_policy_kept():
        return _pretrain(config, run_dir=run_dir, resume=resume, overwrite=overwrite, started=started)


def _pretrain(config: Config, run_dir: Optional[Path] = None, resume: bool = False,
              overwrite: bool = False, started: Optional[float] = None) -> PretrainResult:
    """`pretrain` inside its progress setting."""
    timer = PhaseTimer(started)
    settings = config.pretrain
    if resume and (run_dir / artifacts.PRETRAIN_METRICS_FILE).is_file():
        raise RunError(f"{run_dir}: this pretraining run finished; start a new one")
    if run_dir is not None and not resume:
        artifacts.check_claimable(run_dir, overwrite)  # before minutes of reading and tokenizing
    with timer.phase("data"):
        data = load_data(config.data, config.experiment.seed)
        corpus = gather_texts(config, data)
    _say(f"Pretraining corpus: {len(corpus.texts):,} texts ("
         + ", ".join(f"{name}: {count:,}" for name, count in corpus.sources.items()) + ")")
    _check_output(config, resume, overwrite)
    with timer.phase("import"):
        import_tensorflow()
    with timer.phase("runtime"):
        runtime = start_runtime(config)
        if runtime.distribution.replicas > 1 or runtime.distribution.workers > 1:
            raise ConfigError("pretrain runs on one device for now; set runtime.distribution: none")
    with timer.phase("encoder"):
        model_config = config.model.model_copy(update={"encoder": settings.encoder or config.model.encoder})
        base = resolve_spec(model_config)
        encoder = prepare_encoder(base, model_config, corpus.texts, config.experiment.seed)
        vocab_file, lower_case = _vocabulary(encoder)
        vocab = [line for line in vocab_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        ids = special_ids(vocab)
        preprocessor = load_preprocessor(encoder.preprocess_handle)
    with timer.phase("tokenize"):
        packed = pack_corpus(tokenize(preprocessor, corpus.texts), settings.seq_length, ids["cls"], ids["sep"],
                             ids["pad"], settings.held_out, config.experiment.seed)
    _say(f"Packed into {len(packed.train):,} training and {len(packed.held_out):,} held-out sequences "
         f"of {settings.seq_length} tokens")
    run_dir, state = _open_run(config, corpus, packed, run_dir, resume, overwrite)
    output = Path(settings.output) if settings.output else run_dir / artifacts.PRETRAINED_ENCODER_DIR
    with timer.phase("fit"):
        trained = _fit(config, runtime, encoder, packed, vocab, ids, run_dir, state)
    with timer.phase("export"):
        manifest = _manifest(base, encoder, config, corpus, trained, run_dir)
        staging = files.staging_dir(output)
        from bertclf.encoders.export import export_native_encoder

        export_native_encoder(staging, trained["native"], vocab_file, lower_case, manifest,
                              preprocessor_from=_base_preprocessor(encoder, vocab_file))
        if output.exists() and not _pretrained_encoder_folder(output):  # appeared while training
            raise RunError(f"{output}: exists and is not an encoder folder that bertclf pretrain wrote; the "
                           f"adapted encoder is kept in {staging}")
        files.publish_dir(staging, output)
    metrics = {"encoder": str(output), "base_encoder": base.name, "steps": trained["steps"],
               "stopped_by_time": trained["stopped_by_time"], "corpus": {**corpus.sources, **packed.record()},
               "held_out_loss": {"start": trained["history"][0]["held_out_loss"],
                                 "end": trained["history"][-1]["held_out_loss"]},
               "held_out_accuracy": {"start": trained["history"][0]["held_out_accuracy"],
                                     "end": trained["history"][-1]["held_out_accuracy"]},
               "runtime": runtime.record(), "timing": timer.record()}
    files.write_json_atomic(run_dir / artifacts.PRETRAIN_METRICS_FILE, metrics)
    shutil.rmtree(run_dir / artifacts.CHECKPOINT_DIR, ignore_errors=True)
    return PretrainResult(run_dir, output, metrics)


def tokenize(preprocessor, texts: list[str]) -> list[np.ndarray]:
    """Each text's token ids (no special tokens), through the encoder's own preprocessor."""
    import tensorflow as tf

    from bertclf.encoders.tokenization import token_ids

    tokenize_fn = tf.function(lambda batch: token_ids(preprocessor, batch),
                              input_signature=[tf.TensorSpec([None], tf.string)])
    from bertclf.progress import Progress

    documents: list[np.ndarray] = []
    with Progress("Tokenising the pretraining corpus", len(texts), "texts") as shown:
        for start in range(0, len(texts), _TOKENIZE_CHUNK):
            ragged = tokenize_fn(tf.constant(texts[start:start + _TOKENIZE_CHUNK]))
            values, splits = ragged.flat_values.numpy().astype(np.int32), ragged.row_splits.numpy()
            documents.extend(np.split(values, splits[1:-1]))
            shown.advance(len(splits) - 1)
    return documents


def _fit(config: Config, runtime, encoder: ResolvedEncoder, packed: PackedCorpus, vocab: list[str],
         ids: dict[str, int], run_dir: Path, state: Optional[dict]) -> dict:
    import tensorflow as tf

    from bertclf.encoders.native import read_native_weights
    from bertclf.pretraining.masking import MaskingRule, held_out_dataset, training_dataset
    from bertclf.pretraining.model import PretrainKeeper, build_pretrainer, encoder_weights, history_entry
    from bertclf.training.optimizer import build_optimizer, create_slots

    import tf_keras

    settings = config.pretrain
    native = read_native_weights(encoder.encoder_handle)
    # Seeded again, as fine-tuning is: building a tiny encoder and working out its native rebuild
    # draw random numbers, loading both from the cache does not, and the masks and head must not
    # depend on what the cache held (the held-out loss before pretraining was 6.58 or 6.67 after
    # a build, 6.75 from the cache).
    tf_keras.utils.set_random_seed(config.experiment.seed)
    rule = MaskingRule(vocab_size=len(vocab), mask_id=ids["mask"], pad_id=ids["pad"],
                       unselectable_ids=(ids["cls"], ids["sep"], ids["pad"]), mask_rate=settings.mask_rate,
                       max_predictions=settings.max_predictions)
    held_out = held_out_dataset(packed.held_out, rule, settings.batch_size, config.experiment.seed)
    model = build_pretrainer(native)
    # The MLM head's variables exist only once the model is called: made inside the first
    # traced step, they made Keras trace the training and held-out steps twice each (the
    # second trace without creating variables) and left the head without optimizer slots
    # until then. One eager call on a zero batch of the held-out shapes builds them first.
    model({name: tf.zeros([1, *spec.shape[1:]], spec.dtype) for name, spec in held_out.element_spec[0].items()})
    optimizer = build_optimizer(TrainConfig(learning_rate=settings.learning_rate, weight_decay=settings.weight_decay,
                                            warmup_fraction=settings.warmup_fraction), settings.steps)
    model.compile(optimizer=optimizer, jit_compile=runtime.jit_compile)
    create_slots(model)  # the step is traced once, not twice
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    # Two kept: the checkpoint the state file names stays until a newer state names a newer one.
    manager = tf.train.CheckpointManager(checkpoint, str(run_dir / artifacts.CHECKPOINT_DIR), max_to_keep=2)
    history: list[dict] = []
    done, seconds = 0, 0.0
    if state is not None:
        _restore(checkpoint, state, run_dir, optimizer)
        done, seconds, history = state["steps"], state["seconds"], state["history"]
        _say(f"Resuming at step {done:,} of {settings.steps:,}")
    if not history:
        scored = model.evaluate(held_out, verbose=0, return_dict=True)
        history.append(history_entry(0, None, scored, 0.0))
        _say(f"Held-out masked-LM loss before pretraining: {scored['loss']:.4f}")
    chunk = min(settings.checkpoint_steps, settings.steps)
    remaining = settings.steps - done
    budget = None if settings.max_minutes is None else settings.max_minutes * 60 - seconds
    keeper = PretrainKeeper(manager, run_dir, history, settings.steps, budget, seconds)
    stopped_by_time = False
    if remaining > 0 and (budget is None or budget > 0):
        dataset = training_dataset(packed.train, rule, settings.batch_size, config.experiment.seed,
                                   skip_batches=done)
        from bertclf.progress import Progress

        shown = Progress("Pretraining", remaining, "steps")
        advance = tf_keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: shown.advance(1))
        try:
            # SIGTERM stops it as Ctrl-C does, from the API too (the CLI already maps it).
            with shown, signals.handled(signals.raise_interrupt):
                model.fit(dataset, steps_per_epoch=chunk, epochs=math.ceil(remaining / chunk),
                          validation_data=held_out, callbacks=[keeper, advance], verbose=0)  # keeper prints per chunk
        except KeyboardInterrupt:
            raise Interrupted(f"pretraining stopped by {signals.describe()} at step {keeper.saved_steps:,} "
                              f"(checkpointed); continue with: bertclf pretrain {run_dir} --resume",
                              signum=signals.last_signal()) from None
        stopped_by_time = keeper.out_of_time
    elif budget is not None and budget <= 0:
        stopped_by_time = True
    if not np.isfinite(history[-1]["held_out_loss"]):
        raise TrainingDiverged("pretraining diverged (held-out loss is not finite); lower "
                               "pretrain.learning_rate")
    return {"native": dataclasses.replace(native, weights=encoder_weights(model)), "history": history,
            "steps": history[-1]["step"], "stopped_by_time": stopped_by_time}


def _restore(checkpoint, state: dict, run_dir: Path, optimizer) -> None:
    """Restores the checkpoint the state file names (never merely the newest one: a run stopped
    between writing a checkpoint and its state would resume with another step's weights).

    Raises:
        RunError: The state names no checkpoint, or one that is gone or disagrees with it.
    """
    name = state.get("checkpoint")
    folder = run_dir / artifacts.CHECKPOINT_DIR
    if not name or not (folder / f"{name}.index").is_file():
        raise RunError(f"{folder}: the resume state names no checkpoint that exists "
                       f"({name or 'none'}); start the pretraining again")
    checkpoint.restore(str(folder / name)).assert_existing_objects_matched()
    restored = int(optimizer.iterations.numpy())
    if restored != state["steps"]:
        raise RunError(f"{folder / name}: holds step {restored:,}, the resume state says {state['steps']:,}; "
                       f"start the pretraining again")


def _vocabulary(encoder: ResolvedEncoder) -> tuple[Path, bool]:
    """The encoder's vocab.txt and whether its preprocessor lower-cases."""
    from bertclf.encoders.export import VOCAB_FILE
    from bertclf.errors import ModelError

    folder = Path(encoder.encoder_handle).parent
    for candidate in (folder / VOCAB_FILE, Path(encoder.encoder_handle) / "assets" / VOCAB_FILE):
        if candidate.is_file():
            break
    else:
        raise ModelError(f"encoder {encoder.encoder_handle}: no {VOCAB_FILE} beside or inside it; "
                         f"pretraining needs the WordPiece vocabulary")
    if encoder.spec.cased is not None:  # from the registry entry or the folder's manifest
        return candidate, not encoder.spec.cased
    from bertclf.encoders import load_saved_model

    return candidate, bool(load_saved_model(encoder.encoder_handle).do_lower_case.numpy())


def _base_preprocessor(encoder: ResolvedEncoder, vocab_file: Path) -> Optional[Path]:
    """The base encoder's preprocessor folder, when the output can keep it as it is, else None.

    It made the ids the encoder was pretrained on. A folder bertclf wrote in the current
    format (a conversion, a tiny encoder, an earlier pretraining) has it saved from the
    vocabulary beside it, which the output gets too: copying it takes milliseconds where saving
    the same preprocessor again took 3-4 s (1.7-3.4 s since `runtime.saving`; mostly tracing its packing).
    """
    from bertclf.encoders.export import ENCODER_FORMAT_VERSION
    from bertclf.encoders.registry import folder_manifest

    manifest = folder_manifest(encoder.preprocess_handle)
    if manifest.get("format_version") != ENCODER_FORMAT_VERSION or manifest.get("tokenizer") != "wordpiece":
        return None
    folder = Path(encoder.preprocess_handle)
    same_vocabulary = vocab_file.resolve().parent == folder.resolve().parent
    return folder if same_vocabulary and (folder / "saved_model.pb").is_file() else None


def _check_output(config: Config, resume: bool, overwrite: bool) -> None:
    """Refuses a `pretrain.output` that exists, unless --overwrite (or --resume) may replace it, and
    then only when it is an encoder folder `bertclf pretrain` wrote: nothing else is ever deleted."""
    output = config.pretrain.output
    if output is None or not Path(output).exists():
        return
    if not (overwrite or resume):
        raise RunError(f"pretrain.output {output} exists; delete it, choose another folder, or pass --overwrite")
    if not _pretrained_encoder_folder(Path(output)):
        raise RunError(f"pretrain.output {output} exists and is not an encoder folder that bertclf pretrain "
                       f"wrote; nothing was deleted. Choose another pretrain.output")


def _pretrained_encoder_folder(folder: Path) -> bool:
    """True for what `export_native_encoder` writes at the end of a pretraining run, and nothing more."""
    import json

    from bertclf.encoders.export import VOCAB_FILE
    from bertclf.encoders.registry import ENCODER_SUBDIR, MANIFEST_FILE, PREPROCESSOR_SUBDIR

    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    expected = {MANIFEST_FILE, VOCAB_FILE, ENCODER_SUBDIR, PREPROCESSOR_SUBDIR}
    return (folder.is_dir() and isinstance(manifest, dict) and "pretrain_run" in manifest
            and {entry.name for entry in folder.iterdir()} <= expected)


def _open_run(config: Config, corpus, packed: PackedCorpus, run_dir: Optional[Path], resume: bool,
              overwrite: bool) -> tuple[Path, Optional[dict]]:
    import json

    if resume:
        state_file = run_dir / artifacts.CHECKPOINT_DIR / artifacts.PRETRAIN_STATE_FILE
        state = json.loads(state_file.read_text(encoding="utf-8")) if state_file.is_file() else None
        _say(f"Run folder: {run_dir}")
        return run_dir, state
    if run_dir is None:
        run_dir = artifacts.create_run_dir(config.experiment.output_dir, f"{config.experiment.name}-pretrain")
    else:
        run_dir = artifacts.claim_run_dir(run_dir, overwrite)
    _say(f"Run folder: {run_dir}")
    files.write_text_atomic(run_dir / artifacts.CONFIG_FILE, dump_config(config))
    files.write_json_atomic(run_dir / artifacts.PRETRAIN_DATA_FILE, {**corpus.sources, **packed.record()})
    return run_dir, None


def _manifest(base, encoder: ResolvedEncoder, config: Config, corpus, trained: dict, run_dir: Path) -> dict:
    spec = encoder.spec
    native = trained["native"]
    return {"name": f"{base.name}-pretrained", "family": spec.family or "bert", "layers": native.num_layers,
            "hidden": native.hidden_size, "heads": native.num_heads, "cased": bool(spec.cased),
            "vocab_size": native.vocab_size, "languages": base.languages or spec.languages,
            "pretrained_from": base.name, "pretrain_run": str(run_dir), "pretrain_steps": trained["steps"],
            "note": f"{base.name} after {trained['steps']:,} steps of masked-LM pretraining on "
                    f"{len(corpus.texts):,} texts (bertclf pretrain, {config.experiment.name})"}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
