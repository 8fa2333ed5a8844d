"""`bertclf bench CONFIG --profile DIR`: where a training step's wall time goes, op by op.

The config's own training step (its encoder, precision, batch size and length
buckets, as `bertclf bench`'s `bucketed` or `bucketed_bf16` pipeline builds it, or
another of those pipelines, `bucketed_native` included)
runs a few warm-up steps, then `steps` steps under TensorFlow's profiler. The
trace (kept in DIR, readable by TensorBoard's profile plugin) is read back and
the profiled window's wall time is attributed to op types: at every instant the
ops running on TensorFlow's executor threads share it equally, so concurrent
ops are not counted twice and the shares sum to the time ops ran. Matrix
products (`MatMul`, `BatchMatMul`, `Einsum`, as oneDNN names them too) are set
against the training FLOPs of the profiled batches and a matrix-product peak
measured here in the run's compute dtype: how close the step is to the
machine's limit, and what else it spends its time on. The products are split
into those with a weight matrix and attention's own (per head, small), each with
the FLOPs it computed (padding included) against the peak, and the step's bound
is stated: every product at the peak, or as it ran where that was faster, and
everything else as it is.
"""

from __future__ import annotations

import collections
import re
import sys
import time
from pathlib import Path
from typing import Iterable

from bertclf.config import Config
from bertclf.errors import ConfigError

# Op types that are matrix products (TensorFlow's and oneDNN's names).
MATMUL_TYPES = {"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum", "_MklEinsum", "_MklMatMul",
                "_MklBatchMatMul", "_MklBatchMatMulV2", "_FusedMatMul", "_MklFusedMatMul", "_MklNativeFusedMatMul",
                "_MklNativeBatchMatMulV2", "_MklNativeEinsum"}
# Profiler bookkeeping on the executor threads, not ops.
_NOT_OPS = {"Record", "StartRegion", "StopRegion", "Process"}
_TOP_TYPES = 14
_TOP_NAMES = 12
# The parts of a step, by the names the encoder (tf-models-official's BertEncoder, as every registry
# encoder is built) and bertclf's optimizer give their ops; matrix products by type first.
_PARTS = ((re.compile(r"/dropout"), "dropout (attention probabilities, hidden states)"),
          (re.compile(r"activation/|gelu", re.IGNORECASE), "GELU"),
          (re.compile(r"layer_norm"), "layer norms"),
          (re.compile(r"softmax"), "attention softmax"),
          # Not the backward ops the optimizer's name scope holds when the encoder is a loaded SavedModel
          # ("AdamWeightDecay/gradients/..."): those are the layers' gradients.
          (re.compile(r"^(?!.*gradients/)(?:.*(?:AdamWeightDecay|global_norm)|Adam)"),
           "optimizer (AdamW and clipping, every weight)"),
          (re.compile(r"embeddings/"), "embedding lookups and their gradients"))
MATMUL_PART = "matrix products"
# What --profile can profile (bench's pipelines that train as `bertclf train` does, on one device).
PROFILED_PIPELINES = ("bucketed", "bucketed_bf16", "bucketed_native")
# Attention's own products (scores Q.K and context P.V, per head), as BertEncoder names them; every
# other product multiplies by a weight matrix (the dense layers, forward and backward).
_ATTENTION_PRODUCT = re.compile(r"self_attention/einsum")
PRODUCT_KINDS = {"weights": "dense layers (with a weight matrix)",
                 "attention": "attention scores and context (per head)"}


def profile_step(config: Config, logdir: Path, steps: int = 6, warmup: int = 3,
                 pipeline: str | None = None) -> dict:
    """Profiles `steps` training steps of `config` after a warm-up; returns the attribution.

    The warm-up fit trains `warmup` steps and then the `steps` batches the profiled fit
    repeats, so nothing in the profiled window is traced or seen for the first time.
    `pipeline` (one of `PROFILED_PIPELINES`) profiles that pipeline instead of the one the
    config's precision trains with.

    Raises:
        ConfigError: Fewer than two profiled steps, or a pipeline that cannot be profiled.
        BertclfError: The config's data or encoder cannot be used.
    """
    if steps < 2:
        raise ConfigError(f"--steps: profiling needs at least 2 steps (got {steps})")
    if pipeline is not None and pipeline not in PROFILED_PIPELINES:
        raise ConfigError(f"--pipelines: --profile profiles one of {', '.join(PROFILED_PIPELINES)} "
                          f"(got {pipeline})")
    from bertclf.data import load_data
    from bertclf.encoders import load_preprocessor, prepare_encoder, rebuilds_natively, with_native_weights
    from bertclf.encoders.registry import resolve_spec
    from bertclf.runtime.hardware import choose_jit_compile, probe_hardware, resolve_precision
    from bertclf.runtime.tf_setup import absorb_first_run_notices, setup_tensorflow
    from bertclf.runtime.hardware import core_count, cpu_name, measure_peak_flops
    from bertclf.training.bench import NATIVE_PIPELINES, _PipelineBench, batch_flops, batches_flops, flop_terms
    from bertclf.training.pipeline import gather_batch

    seed = config.experiment.seed
    data = load_data(config.data, seed)
    tf = setup_tensorflow(config.runtime, seed)
    hardware = probe_hardware(tf)
    absorb_first_run_notices(tf)
    precision = resolve_precision(config.runtime.precision, hardware).precision
    jit_compile, _ = choose_jit_compile(config.runtime.jit_compile, hardware, "none")
    pipeline = pipeline or ("bucketed_bf16" if precision == "mixed_bfloat16" else "bucketed")
    encoder = prepare_encoder(resolve_spec(config.model), config.model, data.train.texts, seed)
    preprocessor = load_preprocessor(encoder.preprocess_handle)
    if pipeline in NATIVE_PIPELINES or rebuilds_natively(config.model, "float32"):
        encoder = with_native_weights(encoder)
    batch_size = config.train.batch_size
    split = data.train.subset([i % len(data.train) for i in range((warmup + steps) * batch_size)])
    _say(f"Profiling {steps} training steps of {encoder.spec.name} ({pipeline}) after {warmup} warm-up steps...")
    bench = _PipelineBench(tf, pipeline, encoder, preprocessor, config, len(data.class_names), None, jit_compile)
    # The warm-up fit trains every batch the profiled fit then repeats (the same plan, from its start):
    # tracing and oneDNN's first look at each shape stay out of the profile.
    bench.train(split, warmup, steps)
    compute_dtype = "bfloat16" if pipeline == "bucketed_bf16" else "float32"
    # The peak on either side of the profiled fit, the higher kept: this machine's speed drifts within
    # minutes, and a peak taken in a slow moment would put products above 100% of it.
    _say(f"Measuring this machine's {compute_dtype} matrix-product peak (2048 x 2048)...")
    peaks = [measure_peak_flops(tf, size=2048, dtype=compute_dtype)]
    logdir.mkdir(parents=True, exist_ok=True)
    tf.profiler.experimental.start(str(logdir))
    try:
        begun = time.perf_counter()
        bench.train(split, 1, steps - 1)  # a fit of `steps` steps; the train function is traced already
        fit_seconds = time.perf_counter() - begun
    finally:
        tf.profiler.experimental.stop()
    trace = newest_trace(logdir)
    window, by_type, by_name, idle = attribute_wall_time(read_op_intervals(trace))
    # The FLOPs of the batches the profiled fit trained, each at its own padded width.
    encoded = bench.trained
    shapes = [tuple(gather_batch(encoded, batch, True)["input_word_ids"].shape) for batch in bench.trained_batches]
    flops = batches_flops(bench.flops_per_token, encoded, bench.trained_batches, [width for _, width in shapes])
    # What the products compute, padding included (the machine multiplies pad positions too).
    terms = flop_terms(bench.classifier)
    by_batch = [batch_flops(terms, rows, width) for rows, width in shapes]
    product_flops = {kind: sum(batch[kind] for batch in by_batch) for kind in PRODUCT_KINDS}
    _say("Measuring the peak again...")
    peaks.append(measure_peak_flops(tf, size=2048, dtype=compute_dtype))
    peak = max(peaks)
    matmul_seconds = sum(seconds for kind, seconds in by_type.items() if kind in MATMUL_TYPES)
    per_step = window / steps
    seconds_by_kind = product_seconds(by_name)
    # Each kind of product at the peak, or as it ran where that was faster: concurrent ops share each
    # instant, so a product that overlapped element-wise ops is credited with less than its duration
    # and can show above a peak measured on a lone product.
    at_peak = sum(min(seconds_by_kind[kind], product_flops[kind] / peak) for kind in PRODUCT_KINDS) / steps
    rest = per_step - matmul_seconds / steps
    return {
        "config": {"experiment": config.experiment.name, "encoder": encoder.spec.name, "pipeline": pipeline,
                   "seq_length": config.model.seq_length, "batch_size": batch_size, "steps": steps,
                   "warmup_steps": warmup, "jit_compile": jit_compile},
        "machine": {"cpu": cpu_name(), "cores": core_count(), "tensorflow": tf.__version__,
                    f"measured_peak_gflops_{compute_dtype}": round(peak / 1e9, 1),
                    "peak_before_and_after_gflops": [round(value / 1e9, 1) for value in peaks]},
        "trace": str(trace),
        "step_seconds": round(per_step, 4),
        "fit_seconds": round(fit_seconds, 2),
        "no_op_running_share": round(idle / window, 4),
        "achieved_gflops": round(flops / window / 1e9, 1),
        "matmul": {"seconds_per_step": round(matmul_seconds / steps, 4),
                   "share": round(matmul_seconds / window, 4),
                   "gflops": round(flops / matmul_seconds / 1e9, 1) if matmul_seconds else None,
                   "share_of_peak": round(flops / matmul_seconds / peak, 3) if matmul_seconds else None},
        "products": [{"kind": kind, "seconds_per_step": round(seconds_by_kind[kind] / steps, 4),
                      "gflop_per_step": round(product_flops[kind] / steps / 1e9, 3),
                      "gflops": round(product_flops[kind] / seconds_by_kind[kind] / 1e9, 1)
                      if seconds_by_kind[kind] else None,
                      "share_of_peak": round(product_flops[kind] / seconds_by_kind[kind] / peak, 4)
                      if seconds_by_kind[kind] else None} for kind in PRODUCT_KINDS],
        # The step's bound on this machine: every product at the measured peak (or faster, as it ran),
        # everything else as it is; and those products alone (nothing else costing anything).
        "bound": {"products_at_peak_seconds": round(at_peak, 6), "rest_seconds": round(rest, 4),
                  "step_seconds": round(at_peak + rest, 4), "speedup": round(per_step / (at_peak + rest), 2),
                  "products_only_speedup": round(per_step / at_peak, 2)},
        "parts": [{"part": part, "seconds_per_step": round(seconds / steps, 4), "share": round(seconds / window, 4)}
                  for part, seconds in step_parts(by_name).most_common()],
        "op_types": [{"type": kind, "seconds_per_step": round(seconds / steps, 4), "share": round(seconds / window, 4)}
                     for kind, seconds in by_type.most_common()],
        "top_ops": {kind: [{"op": name, "seconds_per_step": round(seconds / steps, 4)}
                           for name, seconds in by_name[kind].most_common(_TOP_NAMES)]
                    for kind, _ in by_type.most_common(4)},
    }


def newest_trace(logdir: Path) -> Path:
    """The newest `*.xplane.pb` TensorFlow's profiler wrote under `logdir`."""
    traces = sorted(logdir.glob("plugins/profile/*/*.xplane.pb"), key=lambda path: path.stat().st_mtime)
    if not traces:
        raise RuntimeError(f"the profiler wrote no trace under {logdir}")
    return traces[-1]


def read_op_intervals(trace: Path) -> list[tuple[float, float, str, str]]:
    """(start s, end s, op type, op name) of every op TensorFlow's executor threads ran."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(trace.read_bytes())
    intervals = []
    for plane in space.planes:
        metadata = plane.event_metadata
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):  # the executor's threads: one event per op run
                continue
            base_ps = line.timestamp_ns * 1000
            for event in line.events:
                name = metadata[event.metadata_id].name
                if ":" not in name or not event.duration_ps:
                    continue
                op, kind = name.rsplit(":", 1)
                if kind in _NOT_OPS:
                    continue
                start = (base_ps + event.offset_ps) / 1e12
                intervals.append((start, start + event.duration_ps / 1e12, kind, op))
    return intervals


def attribute_wall_time(intervals: Iterable[tuple[float, float, str, str]]):
    """Splits the window the intervals span among them: concurrent intervals share each instant equally.

    Returns (window seconds, seconds by op type, seconds by op name within each type,
    seconds in which nothing ran).
    """
    intervals = list(intervals)
    by_type: collections.Counter = collections.Counter()
    by_name: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    if not intervals:
        return 0.0, by_type, by_name, 0.0
    # Ends sort before starts at the same instant, so back-to-back ops never look concurrent.
    events = sorted([(start, 1, i) for i, (start, _, _, _) in enumerate(intervals)]
                    + [(end, 0, i) for i, (_, end, _, _) in enumerate(intervals)])
    active: set[int] = set()
    idle, last = 0.0, events[0][0]
    for instant, starts, index in events:
        elapsed = instant - last
        if elapsed > 0:
            if active:
                for running in active:
                    _, _, kind, name = intervals[running]
                    by_type[kind] += elapsed / len(active)
                    by_name[kind][_op_family(name)] += elapsed / len(active)
            else:
                idle += elapsed
        last = instant
        (active.add if starts else active.discard)(index)
    return events[-1][0] - events[0][0], by_type, by_name, idle


def step_parts(by_name: dict[str, collections.Counter]) -> collections.Counter:
    """Seconds by part of the step (`_PARTS`: matrix products, dropout, GELU, ...), from seconds by op."""
    parts: collections.Counter = collections.Counter()
    for kind, names in by_name.items():
        for name, seconds in names.items():
            if kind in MATMUL_TYPES:
                part = MATMUL_PART
            else:
                part = next((label for pattern, label in _PARTS if pattern.search(name)), None)
                part = part or ("casts between precisions" if kind == "Cast" else "other")
            parts[part] += seconds
    return parts


def product_seconds(by_name: dict[str, collections.Counter]) -> dict[str, float]:
    """Seconds of matrix products by kind (`PRODUCT_KINDS`): with a weight matrix, or attention's own."""
    seconds = dict.fromkeys(PRODUCT_KINDS, 0.0)
    for kind, names in by_name.items():
        if kind in MATMUL_TYPES:
            for name, spent in names.items():
                seconds["attention" if _ATTENTION_PRODUCT.search(name) else "weights"] += spent
    return seconds


def _op_family(name: str) -> str:
    """An op's name with its layer and copy numbers folded: one row for the same op in every layer."""
    name = re.sub(r"layer_\d+", "layer_N", name)
    return re.sub(r"_\d+(?=/|$)", "", name)


def markdown(result: dict) -> str:
    """The profile as Markdown: the step, the matrix products against the peak, then op types."""
    setup, machine, matmul = result["config"], result["machine"], result["matmul"]
    peak_key = next(key for key in machine if key.startswith("measured_peak_gflops_"))
    lines = [f"{setup['experiment']} ({setup['encoder']}, {setup['pipeline']}, seq_length {setup['seq_length']}, "
             f"batch {setup['batch_size']}; {setup['steps']} profiled steps after {setup['warmup_steps']} warm-up); "
             f"{machine['cpu']}, {machine['cores']} cores, TF {machine['tensorflow']}",
             "",
             f"Step: {result['step_seconds']:.3f} s, {result['achieved_gflops']} GFLOP/s of training FLOPs. Matrix "
             f"products: {matmul['seconds_per_step']:.3f} s per step ({matmul['share']:.0%} of it), "
             f"{matmul['gflops']} GFLOP/s, {matmul['share_of_peak']:.0%} of the {machine[peak_key]} GFLOP/s "
             f"measured here ({peak_key.rsplit('_', 1)[-1]}, 2048 x 2048, the higher of before and after). "
             f"No op running: {result['no_op_running_share']:.1%}.",
             "",
             "| matrix products | ms per step | GFLOP per step (padding included) | GFLOP/s | share of the peak |",
             "|---|---|---|---|---|"]
    for row in result["products"]:
        rate = "- | -" if row["gflops"] is None else f"{row['gflops']} | {row['share_of_peak']:.0%}"
        lines.append(f"| {PRODUCT_KINDS[row['kind']]} | {row['seconds_per_step'] * 1000:.0f} | "
                     f"{row['gflop_per_step']:.1f} | {rate} |")
    bound = result["bound"]
    lines += ["",
              "Every product at the peak (or as it ran, if faster) and the rest as it is: "
              f"{bound['step_seconds']:.3f} s a step "
              f"({bound['products_at_peak_seconds']:.3f} + {bound['rest_seconds']:.3f} s), at most "
              f"{bound['speedup']}x faster; those products alone: {bound['products_only_speedup']}x.",
              "",
              "| part of the step | ms per step | share of the step |",
              "|---|---|---|"]
    lines += [f"| {row['part']} | {row['seconds_per_step'] * 1000:.0f} | {row['share']:.1%} |" for row in result["parts"]]
    lines += ["", "| op type | ms per step | share of the step |", "|---|---|---|"]
    for row in result["op_types"][:_TOP_TYPES]:
        lines.append(f"| {row['type']} | {row['seconds_per_step'] * 1000:.1f} | {row['share']:.1%} |")
    for kind, rows in result["top_ops"].items():
        lines += ["", f"{kind}, by op (all layers together):", ""]
        lines += [f"- {row['seconds_per_step'] * 1000:.1f} ms {row['op']}" for row in rows[:6]]
    lines += ["", f"Trace: {result['trace']} (TensorBoard's profile plugin reads it)."]
    return "\n".join(lines)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
