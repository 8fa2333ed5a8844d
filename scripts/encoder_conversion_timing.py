"""Times preparing a registry encoder from its packaged checkpoint into an empty cache.

    python scripts/encoder_conversion_timing.py ENCODER [--repeats 2]

ENCODER is a registry name whose weights come in a pip package (`minilm_l6_uncased`,
`multilingual_e5_small`). Each repeat converts it into a fresh temporary cache, as a first
`bertclf train` with that encoder does (reading the checkpoint, building the encoder in float32,
writing its encoder and preprocessor SavedModels, checking them), and prints the seconds; the
first repeat also pays the process's first imports of the converters. For old code against new,
run the script from each tree (PYTHONPATH=TREE/src), alternating. docs/BENCHMARKS.md has figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("encoder")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from bertclf.config import ModelConfig
    from bertclf.encoders import prepare_encoder
    from bertclf.encoders.registry import get_spec, packaged_checkpoint
    from bertclf.runtime.tf_setup import setup_tensorflow

    spec = get_spec(args.encoder)
    if packaged_checkpoint(spec) is None:
        raise SystemExit(f"{args.encoder}: its weights' package is not installed (make install adds it)")
    setup_tensorflow()
    for repeat in range(1, args.repeats + 1):
        cache = tempfile.mkdtemp(prefix="bertclf-conversion-")
        os.environ["BERTCLF_CACHE"] = cache
        try:
            started = time.perf_counter()
            prepare_encoder(spec, ModelConfig(encoder=args.encoder), [], seed=0)
            print(f"{args.encoder} repeat {repeat}: {time.perf_counter() - started:.2f} s", flush=True)
        finally:
            shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
