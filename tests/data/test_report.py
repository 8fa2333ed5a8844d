"""The data report's token-length warning."""

from __future__ import annotations

from bertclf.data.report import add_token_lengths


def _report():
    return {"splits": {"train": {"examples": 4}}, "warnings": []}


def test_long_texts_warn_and_suggest_head_tail_only_when_not_used():
    report = _report()
    add_token_lengths(report, "train", [10, 300, 400, 500], seq_length=128, truncation="head")
    assert report["splits"]["train"]["tokens"]["truncated_share"] == 0.75
    assert report["warnings"] == ["train: 75% of texts are longer than model.seq_length=128 tokens and will "
                                  "be cut (head kept); consider a longer seq_length, data.truncation: head_tail "
                                  "or model.long_text: windows"]

    report = _report()
    add_token_lengths(report, "train", [10, 300, 400, 500], seq_length=128, truncation="head_tail")
    assert report["warnings"] == ["train: 75% of texts are longer than model.seq_length=128 tokens and will "
                                  "be cut (head_tail kept); consider a longer seq_length or model.long_text: windows"]

    report = _report()  # windows read every text whole
    add_token_lengths(report, "train", [10, 300, 400, 500], seq_length=128, truncation="windows")
    assert report["warnings"] == [] and report["splits"]["train"]["tokens"]["truncated_share"] == 0.75


def test_no_warning_when_most_texts_fit():
    report = _report()
    add_token_lengths(report, "train", [10, 20, 30, 500], seq_length=128)
    assert report["warnings"] == []


def test_long_pairs_are_not_advised_a_truncation_they_ignore():
    from bertclf.data.report import add_token_lengths

    for truncation, advice in (("head", ", data.truncation: head_tail"), (None, "pairs trimmed longest-first")):
        report = {"splits": {"train": {}}, "warnings": []}
        add_token_lengths(report, "train", [100] * 10, 32, truncation)
        assert advice in report["warnings"][0]
    assert "data.truncation" not in report["warnings"][0] and "long_text" not in report["warnings"][0]
