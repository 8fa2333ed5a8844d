"""`bertclf bench`'s pure parts: medians over repeats, ratios to the seed pipeline, the table."""

from __future__ import annotations


def test_bench_medians_ratios_and_table():
    from bertclf.training.bench import Measurement, markdown, median_measurements, ratios_vs_seed

    def run(pipeline, train, infer):
        return Measurement(pipeline, train, train * 100, 0.5, 0.2, infer, infer * 100, 0.25, 1000.0)

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
    assert table[-2] == "| seed | 3.0 | 300 | 50% | 20.0% | 12.0 | 1200 | 25% | 1000 | 1.00 | 1.00 |"
    assert table[-1] == "| bucketed | 6.0 | 600 | 50% | 20.0% | 35.0 | 3500 | 25% | 1000 | 2.00 | 2.92 |"
