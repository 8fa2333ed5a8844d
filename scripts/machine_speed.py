"""Prints how fast this machine is right now, so a wall time can be read against it.

Usage: python scripts/machine_speed.py [--label TEXT]

The machines we run on drift up to 2x between days (another host CPU, other tenants), so a
wall time (`make test`, a demo, a benchmark) says little without the speed it ran at.
`make test` prints this line before and after the tests. The CPU model, then two figures,
each timed for about a second: TensorFlow's float32 matrix product (2048 x 2048), and a
pure-Python loop, because most of the test suite's time is single-threaded Python (tracing,
loading and saving graphs), not arithmetic. Last, the free disk where the tests write (their
temporary folder, in memory where it has room: tests/temp_location.py) and where the clone is: a suite that ran out of disk fails half-way with
tracebacks that do not say so plainly.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import time
from pathlib import Path


def python_loop_rate(seconds: float = 1.0) -> float:
    """Millions of iterations per second of a small pure-Python loop (one core)."""
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        total = 0
        for i in range(100_000):
            total += i * i
        runs += 1
    return runs * 100_000 / (time.perf_counter() - started) / 1e6


def matmul_gflops(seconds: float = 1.0, size: int = 2048) -> float:
    """Float32 GFLOP/s of a size x size matrix product, on TensorFlow's default threads."""
    from bertclf.runtime.hardware import measure_peak_flops
    from bertclf.runtime.tf_setup import quiet_tensorflow, setup_tensorflow

    # As a bertclf command starts TensorFlow: Keras 2 (otherwise TensorFlow also imports Keras 3,
    # 1 s of each line), its info lines off, and CUDA's cuInit failure on a machine without a GPU
    # (logged as an error) dropped from `make test`'s output; any other error line is kept.
    quiet_tensorflow()
    tf = setup_tensorflow()

    # The faster of two halves, so one slow stretch weighs less. `make test`'s first line still
    # reads low at times (clean clones, 2026-12-07/08: 111, 172 and 129 GFLOP/s before the
    # tests, 180, 191 and 201 after; the last two with two windows): read the line after too.
    return max(measure_peak_flops(tf, size=size, seconds=seconds / 2) for _ in range(2)) / 1e9


def free_disk() -> str:
    """Free space where the tests write and where the clone is ("20.8 GB free in /dev/shm, 76.1 GB free in
    /home/me/bertclf"): the suite's own rule for its folder (tests/temp_location.py), loaded by path."""
    spec = importlib.util.spec_from_file_location(
        "temp_location", Path(__file__).resolve().parents[1] / "tests" / "temp_location.py")
    temp_location = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(temp_location)
    by_device: dict[int, list[str]] = {}
    for place in (str(temp_location.suite_temp_dir()), os.getcwd()):
        by_device.setdefault(os.stat(place).st_dev, []).append(place)
    return ", ".join(f"{shutil.disk_usage(places[0]).free / 1e9:.1f} GB free in {' and '.join(places)}"
                     for places in by_device.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="machine speed")
    args = parser.parse_args()
    python_rate = python_loop_rate()
    gflops = matmul_gflops()
    from bertclf.runtime.hardware import core_count, cpu_name

    print(f"{args.label}: {cpu_name()}, {core_count()} cores; float32 matmul {gflops:.0f} "
          f"GFLOP/s; Python loop {python_rate:.1f} M iterations/s; {free_disk()}", flush=True)


if __name__ == "__main__":
    main()
