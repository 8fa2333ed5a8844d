"""`bertclf bench`: training and inference throughput of a config, pipeline against pipeline.

Pipelines measured side by side in one process, on the same examples:

* `seed`: the TF tutorial's way: the preprocessor inside the Keras model, so
  every step re-tokenizes strings, and every batch padded to `seq_length`.
* `fixed`: bertclf's pipeline with `data.bucketing: false`: tokenized once,
  batches padded to `seq_length`.
* `bucketed`: bertclf's default: tokenized once, batches of similar length,
  each padded to its bucket boundary.
* `bucketed_bf16`: as `bucketed`, with the encoder rebuilt natively under the
  `mixed_bfloat16` policy (`runtime.precision: mixed_bfloat16`), and so with
  `encoders.dropout.FastDropout`.
* `bucketed_native`: as `bucketed`, with the encoder rebuilt natively in float32
  (as every other precision and `model.freeze_embeddings` build it), and so with
  `FastDropout` instead of the hub SavedModel's own dropout: whether the rebuild
  would train faster in float32 on this machine.
* `bucketed_distributed`: as `bucketed`, trained under the strategy that
  `runtime.distribution` (and `runtime.cpu_devices`) resolve to, each global
  batch split over its replicas as `bertclf train` splits it. Inference scores
  with an undistributed copy, as a run does.

All but `bucketed_bf16` compute in float32 whatever `runtime.precision` says.

Each pipeline trains a fresh classifier: warm-up steps (graph tracing, kernel
selection) are excluded, then `steps` timed steps. Inference scores strings end
to end through the exported model's serving function (which pads each batch
to its bucket) as `bertclf predict --file` does; `fixed` feeds texts in their
given order, the bucketed pipelines grouped by length. Repeats alternate pipelines, and
medians are reported. Model FLOPs utilisation uses training FLOPs per real
token = 6 x non-embedding parameters + 12 x layers x hidden x padded length
(forward only, for inference: a third of that), against a peak measured on
this machine with a large float32 matrix product.
"""

from __future__ import annotations

import contextlib
import dataclasses
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import tf_keras

from bertclf.config import Config
from bertclf.data import load_data
from bertclf.encoders import load_preprocessor, prepare_encoder, rebuilds_natively, with_native_weights
from bertclf.encoders.registry import resolve_spec
from bertclf.runtime.hardware import choose_jit_compile, core_count, cpu_name, measure_peak_flops, probe_hardware
from bertclf.runtime.distribution import start_distribution
from bertclf.runtime.tf_setup import absorb_first_run_notices, setup_tensorflow

PIPELINES = ("seed", "fixed", "bucketed", "bucketed_bf16", "bucketed_native", "bucketed_distributed")
# Pipelines whose encoder is rebuilt natively (encoders.native) rather than loaded from its SavedModel.
NATIVE_PIPELINES = ("bucketed_bf16", "bucketed_native")


@dataclasses.dataclass
class Measurement:
    """One timed run of one pipeline."""

    pipeline: str
    train_examples_per_second: float
    train_real_tokens_per_second: float
    train_padding_share: float
    train_mfu: float
    inference_examples_per_second: float
    inference_real_tokens_per_second: float
    inference_padding_share: float
    inference_mfu: float
    peak_memory_mb: float


def run_bench(config: Config, pipelines: tuple[str, ...] = PIPELINES, steps: int = 20, warmup: int = 3,
              repeats: int = 3, inference_examples: int = 512) -> dict:
    """Measures each pipeline `repeats` times; returns medians, the raw runs and the setup.

    Raises:
        BertclfError: The config's data or encoder cannot be used.
    """
    seed = config.experiment.seed
    data = load_data(config.data, seed)
    tf = setup_tensorflow(config.runtime, seed)
    # Before anything runs on TensorFlow: logical CPU devices can only be set up until then.
    hardware = probe_hardware(tf)
    distribution = start_distribution(tf, hardware, config.runtime.distribution, config.runtime.cpu_devices)
    absorb_first_run_notices(tf)
    # runtime.jit_compile as `bertclf train` resolves it (auto: off on CPUs, docs/BENCHMARKS.md).
    jit_compile, _ = choose_jit_compile(config.runtime.jit_compile, hardware, distribution.name)
    encoder = prepare_encoder(resolve_spec(config.model), config.model, data.train.texts, seed)
    preprocessor = load_preprocessor(encoder.preprocess_handle)
    batch_size, seq_length = config.train.batch_size, config.model.seq_length
    needed = (warmup + steps) * batch_size
    train_split = data.train.subset([i % len(data.train) for i in range(needed)])
    infer_split = data.validation.subset(range(min(inference_examples, len(data.validation))))
    _say("Measuring this machine's float32 matmul peak (for model FLOPs utilisation)...")
    peak_flops = measure_peak_flops(tf)
    # The float32 pipelines build the encoder as a float32 run of this config would.
    own_native = rebuilds_natively(config.model, "float32")
    native = with_native_weights(encoder) if set(NATIVE_PIPELINES) & set(pipelines) or own_native else encoder
    if own_native:
        encoder = native  # frozen embeddings or model.native_encoder: the run would rebuild it
    runs: list[Measurement] = []
    total = repeats * len(pipelines)
    for repeat in range(repeats):
        for pipeline in pipelines:
            # A bench takes minutes: one line as each measurement starts and one as it ends.
            started = time.perf_counter()
            _say(f"Bench {len(runs) + 1}/{total}: {pipeline} (repeat {repeat + 1} of {repeats}): "
                 f"{warmup} warm-up and {steps} timed training steps, then {len(infer_split)} texts scored...")
            _reset_peak_memory()
            bench = _PipelineBench(tf, pipeline, native if pipeline in NATIVE_PIPELINES else encoder,
                                   preprocessor, config, len(data.class_names), distribution, jit_compile)
            train = bench.train(train_split, warmup, steps)
            infer = bench.infer(infer_split)
            runs.append(Measurement(
                pipeline, train["examples_per_second"], train["real_tokens_per_second"], train["padding_share"],
                train["flops_per_second"] / peak_flops, infer["examples_per_second"],
                infer["real_tokens_per_second"], infer["padding_share"], infer["flops_per_second"] / peak_flops,
                _peak_memory_mb()))
            _say(f"  {pipeline}: training {train['examples_per_second']:.1f} examples/s, inference "
                 f"{infer['examples_per_second']:.1f} examples/s ({time.perf_counter() - started:.0f} s)")
    medians = median_measurements(runs)
    return {
        "config": {"experiment": config.experiment.name, "encoder": encoder.spec.name,
                   "seq_length": seq_length, "batch_size": batch_size, "truncation": config.data.truncation,
                   "train_steps": steps, "warmup_steps": warmup, "repeats": repeats,
                   "inference_examples": len(infer_split),
                   "intra_op_threads": config.runtime.intra_op_threads,
                   "strategy": distribution.name, "replicas": distribution.replicas, "jit_compile": jit_compile,
                   "inter_op_threads": config.runtime.inter_op_threads},
        "machine": {"cpu": cpu_name(), "cores": core_count(), "python": platform.python_version(),
                    "tensorflow": tf.__version__, "measured_peak_gflops_float32": round(peak_flops / 1e9, 1)},
        "medians": medians,
        "ratios_vs_seed": ratios_vs_seed(medians),
        "runs": [dataclasses.asdict(run) for run in runs],
    }


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def median_measurements(runs: list[Measurement]) -> dict[str, dict[str, float]]:
    """Per pipeline (in order of first appearance), the median of every measured field over its repeats."""
    medians = {}
    for pipeline in dict.fromkeys(run.pipeline for run in runs):
        mine = [run for run in runs if run.pipeline == pipeline]
        medians[pipeline] = {field.name: round(statistics.median(getattr(run, field.name) for run in mine), 4)
                             for field in dataclasses.fields(Measurement) if field.name != "pipeline"}
    return medians


def ratios_vs_seed(medians: dict) -> dict:
    """Each pipeline's training and inference throughput as a multiple of the `seed` pipeline's."""
    if "seed" not in medians:
        return {}
    base = medians["seed"]
    return {pipeline: {"train_examples_per_second": round(values["train_examples_per_second"]
                                                          / base["train_examples_per_second"], 2),
                       "inference_examples_per_second": round(values["inference_examples_per_second"]
                                                              / base["inference_examples_per_second"], 2)}
            for pipeline, values in medians.items() if pipeline != "seed"}


class _PipelineBench:
    def __init__(self, tf, pipeline: str, encoder, preprocessor, config: Config, num_classes: int,
                 distribution, jit_compile: bool = False):
        from bertclf.model import build_classifier
        from bertclf.task import ClassificationTask
        from bertclf.training.optimizer import build_optimizer, create_slots

        tf_keras.mixed_precision.set_global_policy("mixed_bfloat16" if pipeline == "bucketed_bf16" else "float32")
        self.tf, self.pipeline, self.preprocessor = tf, pipeline, preprocessor
        self.config, self.num_classes = config, num_classes
        self.task = ClassificationTask(num_classes)
        self.seq_length, self.batch_size = config.model.seq_length, config.train.batch_size
        self.truncation = config.data.truncation
        self.distribution = distribution if pipeline == "bucketed_distributed" else None
        with self.distribution.scope() if self.distribution else contextlib.nullcontext():
            self.classifier = build_classifier(encoder, self.task, config.model)
            model = self.classifier if pipeline != "seed" else self._with_tokenizer_inside()
            model.compile(optimizer=build_optimizer(config.train, 10_000), jit_compile=jit_compile,
                          **self.task.compile_arguments())
            if pipeline != "seed":  # as `bertclf train` does (the tutorial's pipeline does not)
                create_slots(model)
        self.flops_per_token = _flops_per_real_token(self.classifier)
        self.model = model
        # Scoring uses an undistributed copy, as `bertclf train` does (see ValidationMetrics).
        self.scorer = build_classifier(encoder, self.task, config.model) if self.distribution else self.classifier

    def _with_tokenizer_inside(self):
        from bertclf.encoders.tokenization import encode_texts

        preprocessor, seq_length = self.preprocessor, self.seq_length

        class Tokenize(tf_keras.layers.Layer):
            def call(self, texts):
                return encode_texts(preprocessor, texts, seq_length, "head")

        texts = tf_keras.layers.Input(shape=(), dtype=self.tf.string)
        return tf_keras.Model(texts, self.classifier(Tokenize()(texts)))

    def train(self, split, warmup: int, steps: int) -> dict:
        from bertclf.training.pipeline import distributed_training_dataset, encode_split, gather_batch, plan_batches

        tf = self.tf
        bucketing = self.pipeline.startswith("bucketed")
        encoded = encode_split(split, self.preprocessor, self.seq_length, self.truncation)
        if self.pipeline == "seed":
            labels = self.task.targets(split.labels)
            dataset = tf.data.Dataset.from_tensor_slices((split.texts, labels)).batch(self.batch_size).repeat()
            plan = [np.arange(i, min(i + self.batch_size, len(split))) for i in range(0, len(split), self.batch_size)]
        else:
            strategy = self.distribution.strategy if self.distribution else tf.distribute.get_strategy()
            dataset = distributed_training_dataset(strategy, encoded, self.batch_size, self.task, seed=0,
                                                   first_epoch=0, epochs=1000, bucketing=bucketing)
            plan = plan_batches(encoded.lengths, self.batch_size, bucketing, seed=0, epoch=0)
        clock = _Clock(warmup)
        self.model.fit(dataset, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[clock])
        # What the fit read, in its order (`step_profile` counts the FLOPs of the steps it profiled).
        self.trained, self.trained_batches = encoded, plan[:warmup + steps]
        seconds = clock.ended - clock.started
        timed = plan[warmup:warmup + steps]
        real = sum(int(encoded.lengths[batch].sum()) for batch in timed)
        padded = sum(len(batch) * gather_batch(encoded, batch, bucketing)["input_word_ids"].shape[1]
                     for batch in timed)
        examples = sum(len(batch) for batch in timed)
        flops = self.flops_per_token(padded / examples) * real
        return {"examples_per_second": examples / seconds, "real_tokens_per_second": real / seconds,
                "padding_share": 1 - real / padded, "flops_per_second": flops / seconds}

    def infer(self, split) -> dict:
        from bertclf.serving.export import serving_module
        from bertclf.training.pipeline import encode_split, gather_batch, plan_batches

        tf = self.tf
        bucketing = self.pipeline.startswith("bucketed")
        encoded = encode_split(split, self.preprocessor, self.seq_length, self.truncation)
        if self.pipeline == "seed":
            def run(texts):
                return self.model.predict_on_batch(tf.constant(texts))
            order = [np.arange(i, min(i + self.batch_size, len(split))) for i in range(0, len(split), self.batch_size)]
        else:
            if self.scorer is not self.classifier:
                self.scorer.set_weights(self.classifier.get_weights())
            serve = serving_module(self.preprocessor, self.scorer, self.seq_length,
                                   [str(i) for i in range(self.num_classes)], self.truncation).serve

            def run(texts):
                return serve(tf.constant(texts))["probabilities"]
            # As `Predictor` does: texts grouped by length when bucketing.
            order = plan_batches(np.array([len(t) for t in split.texts]), self.batch_size, bucketing)
        run([split.texts[i] for i in order[0]])  # trace and warm up
        started = time.perf_counter()
        for batch in order:
            run([split.texts[i] for i in batch])
        seconds = time.perf_counter() - started
        real = int(encoded.lengths.sum())
        # The exported model pads each batch to its bucket, grouped by length or not.
        widths = [gather_batch(encoded, batch, True)["input_word_ids"].shape[1] if self.pipeline != "seed"
                  else self.seq_length for batch in order]
        padded = sum(len(batch) * width for batch, width in zip(order, widths))
        flops = batches_flops(self.flops_per_token, encoded, order, widths) / 3  # forward only
        return {"examples_per_second": len(split) / seconds, "real_tokens_per_second": real / seconds,
                "padding_share": 1 - real / padded, "flops_per_second": flops / seconds}


class _Clock(tf_keras.callbacks.Callback):
    """Times the training steps after the warm-up ones."""

    def __init__(self, warmup: int):
        super().__init__()
        self.warmup, self.started, self.ended = max(1, warmup), 0.0, 0.0

    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        if batch == self.warmup - 1:
            self.started = time.perf_counter()

    def on_train_end(self, logs: Optional[dict] = None) -> None:
        self.ended = time.perf_counter()


def flop_terms(classifier) -> tuple[int, int, int]:
    """(non-embedding weights, transformer layers, hidden width) of a classifier, for `batch_flops`."""
    layers, hidden, non_embedding = set(), 0, 0
    for weight in classifier.weights:
        name = weight.name
        match = re.search(r"transformer/layer_(\d+)", name)
        if match:
            layers.add(match.group(1))
        if "word_embeddings" in name:
            hidden = int(weight.shape[-1])
        if "embedding" not in name:
            non_embedding += int(np.prod(weight.shape))
    return non_embedding, len(layers), hidden


def batch_flops(terms: tuple[int, int, int], rows: int, width: int) -> dict[str, int]:
    """Training FLOPs (forward and backward) of a batch of `rows` sequences of `width` tokens, by product.

    Args:
        terms: `flop_terms` of the classifier.
        rows: Sequences in the batch.
        width: Tokens in each (padding included: the machine multiplies pad positions too).

    Returns:
        `weights`: 6 x non-embedding weights a token (the dense layers' products, forward and
        backward); `attention`: 12 x layers x hidden x width a token (scores and context per head).
    """
    non_embedding, layers, hidden = terms
    return {"weights": 6 * non_embedding * rows * width, "attention": 12 * layers * hidden * rows * width * width}


def _flops_per_real_token(classifier):
    """Training FLOPs per real token as a function of the padded length (see the module docstring)."""
    terms = flop_terms(classifier)
    return lambda padded_length: sum(batch_flops(terms, 1, padded_length).values()) // padded_length


def batches_flops(flops_per_token, encoded, batches, widths) -> float:
    """Training FLOPs of `batches` of `encoded`: each batch's real tokens at its padded width."""
    return sum(flops_per_token(width) * int(encoded.lengths[batch].sum()) for batch, width in zip(batches, widths))


def markdown(result: dict) -> str:
    """The medians as a Markdown table, with the setup it was measured on."""
    setup, machine = result["config"], result["machine"]
    lines = [f"{setup['experiment']} ({setup['encoder']}, seq_length {setup['seq_length']}, batch "
             f"{setup['batch_size']}; {setup['train_steps']} timed training steps after {setup['warmup_steps']} "
             f"warm-up, {setup['inference_examples']} texts scored; median of {setup['repeats']}) on "
             f"{machine['cpu']}, {machine['cores']} cores, TF {machine['tensorflow']}; measured float32 peak "
             f"{machine['measured_peak_gflops_float32']} GFLOP/s"
             + (f"; bucketed_distributed under strategy {setup.get('strategy')} with {setup.get('replicas')} "
                f"replicas" if "bucketed_distributed" in result["medians"] else ""),
             "",
             "| pipeline | train ex/s | train real tok/s | train padding | train MFU | infer ex/s | "
             "infer real tok/s | infer padding | infer MFU | peak RSS MB | train x seed | infer x seed |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for pipeline, values in result["medians"].items():
        ratio = result["ratios_vs_seed"].get(pipeline, {})
        lines.append(
            f"| {pipeline} | {values['train_examples_per_second']:.1f} | {values['train_real_tokens_per_second']:.0f} "
            f"| {values['train_padding_share']:.0%} | {values['train_mfu']:.1%} "
            f"| {values['inference_examples_per_second']:.1f} | {values['inference_real_tokens_per_second']:.0f} "
            f"| {values['inference_padding_share']:.0%} | {values['inference_mfu']:.1%} "
            f"| {values['peak_memory_mb']:.0f} "
            f"| {ratio.get('train_examples_per_second', 1.0):.2f} | {ratio.get('inference_examples_per_second', 1.0):.2f} |")
    return "\n".join(lines) + "\n"


def _reset_peak_memory() -> None:
    # Linux: writing 5 resets the process's peak resident set size (VmHWM).
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_memory_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

