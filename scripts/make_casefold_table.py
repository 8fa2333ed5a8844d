"""Writes src/bertclf/serving/tf_text_casefold.json: tensorflow_text's case folding as tokenizers steps.

TF Hub's uncased BERT preprocessors fold case with tensorflow_text's `case_fold_utf8`
(ICU's NFKC_Casefold: NFKC, full case folding, default-ignorable characters removed).
`bertclf.serving.onnx_tokenizer` rebuilds it from Hugging Face tokenizers' normalizers
(NFKC, Lowercase, Replace) with three tables made here, against TensorFlow itself, for
every Unicode code point:
  casefold  characters whose full case folding is not their lower-casing (Python's casefold);
  remove    ranges of code points ICU drops (default ignorables), as [first, last];
  first     characters whose folding the steps above still miss (ICU and the tokenizers'
            Unicode tables are of different Unicode versions), replaced before anything else.
The script fails unless the rebuilt folding equals TensorFlow's for every code point but the
private-use code points that `first`'s placeholders take (U+100000 on).

    .venv/bin/python scripts/make_casefold_table.py   # about a minute
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

OUT = Path(__file__).resolve().parents[1] / "src" / "bertclf" / "serving" / "tf_text_casefold.json"


def main() -> int:
    import tensorflow as tf
    import tensorflow_text as text

    sys.path.insert(0, str(OUT.parents[2]))
    from bertclf.serving.onnx_tokenizer import _PLACEHOLDERS, casefold_differences, folding_normalizer

    chars = [chr(code) for code in range(sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF]
    expected = [value.decode("utf-8") for value in text.case_fold_utf8(tf.constant(chars)).numpy()]
    tables = {"casefold": sorted(casefold_differences().items()), "remove": [], "first": []}
    got = _apply(folding_normalizer(tables), chars)
    removed = sorted(ord(c) for c, want, have in zip(chars, expected, got) if want == "" and have != "")
    for code in removed:
        if tables["remove"] and code == tables["remove"][-1][1] + 1:
            tables["remove"][-1][1] = code
        else:
            tables["remove"].append([code, code])
    got = _apply(folding_normalizer(tables), chars)
    tables["first"] = [[c, want] for c, want, have in zip(chars, expected, got) if want != have]
    got = _apply(folding_normalizer(tables), chars)
    # The placeholders themselves (private-use code points, one per `first` entry) are the price.
    parked = range(_PLACEHOLDERS, _PLACEHOLDERS + len(tables["first"]))
    wrong = [(hex(ord(c)), want, have) for c, want, have in zip(chars, expected, got)
             if want != have and ord(c) not in parked]
    if wrong:
        print(f"error: {len(wrong)} code points still fold differently, e.g. {wrong[:5]}", file=sys.stderr)
        return 1
    OUT.write_text(json.dumps(tables, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(tables['casefold'])} casefold, {len(tables['remove'])} removed ranges, "
          f"{len(tables['first'])} first; {len(chars) - len(parked):,} code points fold as tensorflow_text's "
          f"case_fold_utf8 (all but the {len(parked)} private-use placeholders)")
    return 0


def _apply(normalizer, chars: list[str]) -> list[str]:
    return [normalizer.normalize_str(char) for char in chars]


if __name__ == "__main__":
    sys.exit(main())
