"""Trains the test suite's small run N times in one process, printing each run's time and phases.

    python scripts/runs_in_one_process.py [--runs 6] [--work NEW_FOLDER]

What a run costs beyond its training steps, as the suite's runs, a notebook's, a sweep's or
seeds' meet it: the tiny test encoder (built once, as `tests/conftest.py` builds it) and the
suite's two-class config (24 synthetic texts a class, 2 epochs, 32 tokens), trained through
`bertclf.cli.main`, in a new temporary folder (or `--work`, which must not exist yet; it is kept).
The first run pays the process's one-off costs; the others show the
per-run ones. Compare two versions of bertclf by running this from a worktree of each
(`PYTHONPATH=WORKTREE/src`), alternating (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--work", type=Path, default=None, help="a folder to create for the runs (kept)")
    args = parser.parse_args()
    if args.work is None:
        args.work = Path(tempfile.mkdtemp(prefix="bertclf-runs-"))
    elif args.work.exists():
        parser.error(f"--work {args.work}: already exists; name a new folder")
    else:
        args.work.mkdir(parents=True)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import _WORDS, e2e_config, synthetic_texts  # the suite's own texts and config

    os.environ["BERTCLF_CACHE"] = str(args.work / "cache")
    os.environ["BERTCLF_STATE"] = str(args.work / "state")
    from bertclf.cli import main as bertclf

    corpus = args.work / "corpus.txt"
    corpus.write_text("\n".join(t for c in _WORDS for t in synthetic_texts(c, 60)) + "\n", encoding="utf-8")
    encoder = args.work / "encoder"
    assert bertclf(["models", "make-tiny", str(encoder), "--vocab-from", str(corpus), "--vocab-size", "400",
                    "--layers", "1", "--hidden", "32", "--heads", "2", "--seed", "7"]) == 0
    total = 0.0
    for run in range(1, args.runs + 1):
        work = args.work / f"run{run}"
        work.mkdir()
        begun = time.perf_counter()
        assert bertclf(["train", str(e2e_config(work, encoder)), "--run-dir", str(work / "run")]) == 0
        seconds = time.perf_counter() - begun
        total += seconds
        phases = json.loads((work / "run" / "metrics.json").read_text())["timing"]["phases"]
        shown = ", ".join(f"{name} {value:.2f}" for name, value in phases.items() if value >= 0.05)
        print(f"run {run}: {seconds:.2f} s ({shown})", flush=True)
    print(f"{args.runs} runs: {total:.1f} s (in {args.work})", flush=True)


if __name__ == "__main__":
    main()
