"""Writes the IMDB archive's reviews as CSV files (review, sentiment), for configs/imdb_csv.yaml.

Usage: python scripts/imdb_to_csv.py ARCHIVE OUT_DIR [--per-class N]
Reads aclImdb/{train,test}/{pos,neg}/*.txt straight from the .tar.gz (nothing is
unpacked) and writes OUT_DIR/train.csv and OUT_DIR/test.csv, fully quoted.
"""

import argparse
import csv
import tarfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--per-class", type=int, default=0, help="keep the first N reviews per class and split")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    counts: dict[tuple[str, str], int] = {}
    with tarfile.open(args.archive) as archive:
        for member in archive:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 4 or parts[1] not in rows or parts[2] not in ("pos", "neg"):
                continue
            key = (parts[1], parts[2])
            if args.per_class and counts.get(key, 0) >= args.per_class:
                continue
            counts[key] = counts.get(key, 0) + 1
            rows[parts[1]].append((archive.extractfile(member).read().decode("utf-8"), parts[2]))
    for split, examples in rows.items():
        with (args.out_dir / f"{split}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
            writer.writerow(["review", "sentiment"])
            writer.writerows(sorted(examples))
        print(f"wrote {len(examples)} rows to {args.out_dir / f'{split}.csv'}")


if __name__ == "__main__":
    main()
