"""`bertclf bench`'s pure parts (medians over repeats, ratios to the seed pipeline, the table) and its runtime settings."""

from __future__ import annotations

import pytest

from conftest import e2e_config


def test_flops_of_a_batch_by_product_and_per_real_token():
    """One formula for the bench's GFLOP/s and the profile's products, checked against a count by hand."""
    from types import SimpleNamespace

    import numpy as np

    from bertclf.training.bench import _flops_per_real_token, batch_flops, batches_flops, flop_terms

    def weight(name, *shape):
        return SimpleNamespace(name=name, shape=shape)

    classifier = SimpleNamespace(weights=[
        weight("encoder/word_embeddings/embeddings:0", 10, 4), weight("encoder/position_embedding/embeddings:0", 8, 4),
        weight("encoder/transformer/layer_0/self_attention/query/kernel:0", 4, 4),
        weight("encoder/transformer/layer_1/intermediate/kernel:0", 4, 4), weight("classifier/kernel:0", 4, 2)])
    terms = flop_terms(classifier)
    assert terms == (40, 2, 4)  # 16 + 16 + 8 weights outside the embeddings; two layers; 4 wide
    # 3 rows of 5 tokens: 6 x 40 x 15 with the weights; 12 x 2 layers x 4 wide x 3 rows x 5 x 5 in attention.
    assert batch_flops(terms, 3, 5) == {"weights": 3600, "attention": 7200}
    assert _flops_per_real_token(classifier)(5) == 6 * 40 + 12 * 2 * 4 * 5 == 720
    # Real tokens at their batch's width: 3 + 5 at width 5, then 2 at width 2 (240 + 12 x 2 x 4 x 2 a token).
    encoded = SimpleNamespace(lengths=np.array([3, 5, 2]))
    assert batches_flops(_flops_per_real_token(classifier), encoded, [[0, 1], [2]], [5, 2]) == 8 * 720 + 2 * 432


def test_bench_medians_ratios_and_table():
    from bertclf.training.bench import Measurement, markdown, median_measurements, ratios_vs_seed

    def run(pipeline, train, infer):
        return Measurement(pipeline, train, train * 100, 0.5, 0.2, infer, infer * 100, 0.25, 0.1, 1000.0)

    runs = [run("seed", 2.0, 10.0), run("bucketed", 5.0, 30.0), run("seed", 4.0, 20.0),
            run("bucketed", 7.0, 50.0), run("seed", 3.0, 12.0), run("bucketed", 6.0, 35.0)]
    medians = median_measurements(runs)
    assert list(medians) == ["seed", "bucketed"]
    assert medians["seed"]["train_examples_per_second"] == 3.0 and medians["seed"]["inference_examples_per_second"] == 12.0
    assert medians["bucketed"]["train_examples_per_second"] == 6.0
    ratios = ratios_vs_seed(medians)
    assert ratios == {"bucketed": {"train_examples_per_second": 2.0, "inference_examples_per_second": 2.92}}
    assert ratios_vs_seed({"bucketed": medians["bucketed"]}) == {}
    result = {"config": {"experiment": "x", "encoder": "tiny", "seq_length": 64, "batch_size": 8,
                         "train_steps": 5, "warmup_steps": 2, "inference_examples": 16, "repeats": 3},
              "machine": {"cpu": "CPU", "cores": 2, "tensorflow": "2.20.0", "measured_peak_gflops_float32": 90.0},
              "medians": medians, "ratios_vs_seed": ratios}
    table = markdown(result).splitlines()
    assert table[0].startswith("x (tiny, seq_length 64, batch 8; 5 timed training steps after 2 warm-up")
    assert table[-2] == "| seed | 3.0 | 300 | 50% | 20.0% | 12.0 | 1200 | 25% | 10.0% | 1000 | 1.00 | 1.00 |"
    assert table[-1] == "| bucketed | 6.0 | 600 | 50% | 20.0% | 35.0 | 3500 | 25% | 10.0% | 1000 | 2.00 | 2.92 |"


@pytest.mark.parametrize("setting, compiled", [("true", True), ("auto", False)])
def test_bench_compiles_its_pipelines_as_runtime_jit_compile_says(setting, compiled, tmp_path, tiny_encoder_dir,
                                                                 monkeypatch):
    """`bertclf bench` accepted runtime.jit_compile and ignored it; it now resolves it as `train` does."""
    from bertclf.config import load_config
    from bertclf.training import bench

    seen = []

    class Built(Exception):
        pass

    def recording(*args, **kwargs):
        seen.append(kwargs.get("jit_compile", args[7] if len(args) > 7 else None))
        raise Built

    monkeypatch.setattr(bench, "_PipelineBench", recording)
    monkeypatch.setattr(bench, "measure_peak_flops", lambda tf, **kwargs: 1e9)
    config = load_config(e2e_config(tmp_path, tiny_encoder_dir), [f"runtime.jit_compile={setting}"])
    with pytest.raises(Built):
        bench.run_bench(config, ("bucketed",), steps=1, warmup=1, repeats=1)
    assert seen == [compiled]
