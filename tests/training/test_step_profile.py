"""`bertclf bench --profile`: a step's wall time attributed to op types, from TensorFlow's own trace."""

from __future__ import annotations

import json

import pytest

from conftest import e2e_config


def test_concurrent_ops_share_each_instant_and_gaps_count_as_idle():
    from bertclf.training.step_profile import attribute_wall_time

    intervals = [(0.0, 4.0, "Einsum", "layer_0/query/einsum"),   # alone for 2 s, then beside Mul for 2 s
                 (2.0, 4.0, "Mul", "layer_1/dropout/mul"),
                 (4.0, 5.0, "Mul", "layer_2/dropout/mul_3"),       # starts as the others end: not concurrent
                 (6.0, 7.0, "Einsum", "layer_1/query/einsum")]     # after a second in which nothing ran
    window, by_type, by_name, idle = attribute_wall_time(intervals)
    assert window == 7.0 and idle == 1.0
    assert by_type == {"Einsum": 2.0 + 1.0 + 1.0, "Mul": 1.0 + 1.0}
    assert sum(by_type.values()) + idle == window
    # The same op in every layer is one row.
    assert by_name["Einsum"] == {"layer_N/query/einsum": 4.0}
    assert by_name["Mul"] == {"layer_N/dropout/mul": 2.0}
    assert attribute_wall_time([]) == (0.0, {}, {}, 0.0)


def test_ops_are_grouped_into_the_parts_of_a_step_by_their_names():
    import collections

    from bertclf.training.step_profile import step_parts

    by_name = {"_MklEinsum": collections.Counter({"gradient_tape/m/layer_N/intermediate/einsum/Einsum": 3.0}),
               "Mul": collections.Counter({"m/layer_N/self_attention/dropout/mul": 1.0,
                                           "m/layer_N/activation/Gelu/mul": 0.5,
                                           "AdamWeightDecay/AdamWeightDecay/update/mul": 0.25}),
               "Cast": collections.Counter({"m/layer_N/Cast": 0.125}),
               "AddV2": collections.Counter({"m/layer_N/add": 0.0625}),
               # A loaded SavedModel's backward ops sit in the optimizer's name scope: they are not the optimizer.
               "Sum": collections.Counter({"AdamWeightDecay/gradients/PartitionedCall/m/layer_N/add_grad/Sum": 2.0,
                                           "clip_by_global_norm/global_norm/L2Loss": 4.0})}
    assert step_parts(by_name) == {"matrix products": 3.0, "dropout (attention probabilities, hidden states)": 1.0,
                                   "GELU": 0.5, "optimizer (AdamW and clipping, every weight)": 4.25,
                                   "casts between precisions": 0.125, "other": 2.0625}


def test_matrix_products_are_split_into_weight_and_attention_products_by_name():
    import collections

    from bertclf.training.step_profile import product_seconds

    by_name = {"_MklEinsum": collections.Counter({
        "gradient_tape/m/layer_N/intermediate/einsum/Einsum": 3.0,
        "m/layer_N/self_attention/query/einsum/Einsum": 1.0,      # a projection: it has a weight matrix
        "m/layer_N/self_attention/einsum/Einsum": 0.5,            # scores and context
        "gradient_tape/m/layer_N/self_attention/einsum/Einsum": 0.25}),
        "MatMul": collections.Counter({"m/classifier/MatMul": 0.125}),
        "Mul": collections.Counter({"m/layer_N/self_attention/einsum/mul": 8.0})}  # not a product
    assert product_seconds(by_name) == {"weights": 4.125, "attention": 0.75}


def _machine_precision() -> str:
    import tensorflow as tf

    from bertclf.runtime.hardware import probe_hardware, resolve_precision

    return resolve_precision("auto", probe_hardware(tf)).precision


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", [None, "bucketed_native"])
def test_profile_of_a_tiny_run_attributes_its_step_to_ops(pipeline, tmp_path, tiny_encoder_dir, capsys):
    from bertclf.cli import main
    from bertclf.training.bench import NATIVE_PIPELINES
    from bertclf.training.step_profile import MATMUL_TYPES

    config = e2e_config(tmp_path, tiny_encoder_dir, name="profiled")
    trace_dir = tmp_path / "trace"
    chosen = ["--pipelines", pipeline] if pipeline else []
    assert main(["bench", str(config), "--profile", str(trace_dir), "--steps", "2", "--warmup", "1", "--json",
                 "--output", str(tmp_path / "profile.json"), *chosen]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads((tmp_path / "profile.json").read_text())
    assert result["trace"].startswith(str(trace_dir)) and result["trace"].endswith(".xplane.pb")
    assert result["config"]["steps"] == 2 and result["step_seconds"] > 0
    # The config's own pipeline as this machine resolves runtime.precision: auto (float32: the hub
    # SavedModel, its own dropout; bfloat16 where the CPU has it: rebuilt natively), or the encoder rebuilt
    # natively in float32. A native build draws FastDropout's 16-bit stateless masks, not Keras dropout's.
    expected = pipeline or ("bucketed_bf16" if _machine_precision() == "mixed_bfloat16" else "bucketed")
    assert result["config"]["pipeline"] == expected
    op_types = {row["type"] for row in result["op_types"]}
    assert ("StatelessRandomUniformFullIntV2" in op_types) == (expected in NATIVE_PIPELINES), op_types
    peaks = result["machine"]["peak_before_and_after_gflops"]
    dtype = "bfloat16" if expected == "bucketed_bf16" else "float32"
    peak = result["machine"][f"measured_peak_gflops_{dtype}"]
    assert len(peaks) == 2 and peak == max(peaks) > 0
    assert result["config"]["jit_compile"] is False  # runtime.jit_compile: auto, as `train` resolves it on a CPU
    kinds = {row["type"] for row in result["op_types"]}
    assert kinds & MATMUL_TYPES, kinds  # the encoder's dense layers and attention
    shares = sum(row["share"] for row in result["op_types"]) + result["no_op_running_share"]
    assert shares == pytest.approx(1.0, abs=0.01)
    assert 0 < result["matmul"]["share"] < 1 and result["matmul"]["gflops"] > 0
    # The same time by part of the step: matrix products and the encoder's other parts by name.
    parts = {row["part"]: row["share"] for row in result["parts"]}
    assert parts["matrix products"] == pytest.approx(result["matmul"]["share"], abs=1e-3)
    assert {"dropout (attention probabilities, hidden states)", "GELU", "layer norms"} <= set(parts), parts
    assert sum(parts.values()) == pytest.approx(shares - result["no_op_running_share"], abs=0.01)
    # The products by kind add up to all of them, each with its FLOPs set against the peak.
    products = {row["kind"]: row for row in result["products"]}
    assert set(products) == {"weights", "attention"}
    assert sum(row["seconds_per_step"] for row in products.values()) == pytest.approx(
        result["matmul"]["seconds_per_step"], abs=1e-3)
    assert all(row["seconds_per_step"] > 0 and row["gflop_per_step"] > 0 and row["share_of_peak"] > 0
               for row in products.values()), products
    bound = result["bound"]
    assert bound["step_seconds"] == pytest.approx(bound["products_at_peak_seconds"] + bound["rest_seconds"], abs=1e-3)
    assert bound["rest_seconds"] == pytest.approx(result["step_seconds"] - result["matmul"]["seconds_per_step"],
                                                  abs=1e-3)
    assert 0 < bound["products_at_peak_seconds"] <= result["matmul"]["seconds_per_step"] + 1e-6
    # Each kind of product at the peak, or as it ran where that was faster: recomputed from the rows.
    assert bound["products_at_peak_seconds"] == pytest.approx(
        sum(min(row["seconds_per_step"], row["gflop_per_step"] / peak) for row in products.values()), rel=0.02, abs=1e-4)
    assert bound["products_only_speedup"] > bound["speedup"]
    assert any("einsum" in row["op"].lower() or "matmul" in row["op"].lower()
               for rows in result["top_ops"].values() for row in rows)


def test_profiling_one_step_is_refused_in_one_line(tmp_path, tiny_encoder_dir, capsys):
    from bertclf.cli import main

    config = e2e_config(tmp_path, tiny_encoder_dir, name="one")
    assert main(["bench", str(config), "--profile", str(tmp_path / "trace"), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "--steps: profiling needs at least 2 steps (got 1)" in err and len(err.strip().splitlines()) == 1
    # A pipeline that does not train as `bertclf train` does on one device, or two of them.
    for chosen in ("seed", "bucketed,bucketed_native"):
        assert main(["bench", str(config), "--profile", str(tmp_path / "trace"), "--pipelines", chosen]) == 2
        err = capsys.readouterr().err
        assert (f"--pipelines: --profile profiles one of bucketed, bucketed_bf16, bucketed_native (got {chosen})"
                in err and len(err.strip().splitlines()) == 1), err
    assert main(["bench", str(config), "--whole-process", "--pipelines", "bucketed"]) == 2
    err = capsys.readouterr().err
    assert "--pipelines: not with --whole-process" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "trace").exists()

