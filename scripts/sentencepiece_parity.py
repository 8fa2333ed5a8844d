"""Does a sentencepiece package give the token ids of a run's TensorFlow SentencePiece preprocessor?

Two steps, two environments: `dump` runs in bertclf's (TensorFlow) and writes the texts with the
preprocessor's ids; `compare` needs only the sentencepiece package, so any version can be tried
in a virtual environment of its own. docs/serving.md has what it found for multilingual e5.

    python scripts/sentencepiece_parity.py dump ENCODER_FOLDER ids.json \\
        $BERTCLF_DATA/nsmc/ratings_test.txt:document:20000 $BERTCLF_DATA/sst2/dev.tsv:sentence
    python -m venv sp-0.2.1 && sp-0.2.1/bin/pip install sentencepiece==0.2.1
    sp-0.2.1/bin/python scripts/sentencepiece_parity.py compare ENCODER_FOLDER ids.json

Each data argument is FILE:COLUMN[:ROWS] of a tab-separated file with a header; empty texts are skipped.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def _texts(spec: str) -> list[str]:
    path, column, *rows = spec.split(":")
    limit = int(rows[0]) if rows else None
    texts = []
    with open(path, encoding="utf-8", newline="") as handle:
        for i, row in enumerate(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)):
            if limit is not None and i >= limit:
                break
            if (row.get(column) or "").strip():
                texts.append(row[column])
    return texts


def dump(encoder: Path, out: Path, specs: list[str]) -> None:
    import tensorflow as tf

    from bertclf.encoders import load_preprocessor
    from bertclf.encoders.tokenization import token_ids

    texts = [text for spec in specs for text in _texts(spec)]
    ids = token_ids(load_preprocessor(str(encoder / "preprocessor")), tf.constant(texts)).to_list()
    manifest = json.loads((encoder / "bertclf_encoder.json").read_text(encoding="utf-8"))
    out.write_text(json.dumps({"text_prefix": manifest.get("text_prefix", ""), "texts": texts, "ids": ids},
                              ensure_ascii=False), encoding="utf-8")
    print(f"{len(texts)} texts and their ids -> {out}")


def compare(encoder: Path, dumped: Path) -> int:
    import sentencepiece as spm

    record = json.loads(dumped.read_text(encoding="utf-8"))
    processor = spm.SentencePieceProcessor(model_file=str(encoder / "sentencepiece.model"))
    differ = [text for text, ids in zip(record["texts"], record["ids"])
              if processor.encode(record["text_prefix"] + text) != ids]
    print(f"sentencepiece {spm.__version__}: {len(differ)} of {len(record['texts'])} texts differ")
    for text in differ[:5]:
        print(f"  {text[:80]}")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    dumping = sub.add_parser("dump")
    dumping.add_argument("encoder", type=Path)
    dumping.add_argument("out", type=Path)
    dumping.add_argument("data", nargs="+")
    comparing = sub.add_parser("compare")
    comparing.add_argument("encoder", type=Path)
    comparing.add_argument("dumped", type=Path)
    args = parser.parse_args()
    if args.command == "dump":
        dump(args.encoder, args.out, args.data)
        return 0
    return compare(args.encoder, args.dumped)


if __name__ == "__main__":
    sys.exit(main())
