"""Which tokens of a too-long text a run keeps: one rule for the TensorFlow preprocessing
(`encoders.tokenization`) and the ONNX runtime (`serving.onnx_tokenizer`). No TensorFlow here."""

from __future__ import annotations

# head_tail keeps this share of the token budget from the start, the rest from the end
# (long reviews state their verdict at the end; Sun et al. 2019 found head+tail best on IMDB).
HEAD_SHARE = 0.25


def head_count(budget: int, truncation: str) -> int:
    """How many leading tokens a long text keeps; the rest of the budget comes from its end."""
    return {"head": budget, "tail": 0, "head_tail": int(budget * HEAD_SHARE)}[truncation]
