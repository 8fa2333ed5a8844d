"""Plain-text tables for the terminal (stable output, easy to read in CI logs)."""

from __future__ import annotations

from typing import Any, Sequence


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces, with a rule under the header."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def shorten(text: str, width: int = 70) -> str:
    """One line, at most `width` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def evaluation_text(name: str, metrics: dict, class_names: Sequence[str]) -> str:
    """The human-readable report of `bertclf evaluate`."""
    if metrics.get("task") == "multi_label":
        from bertclf.reporting.multilabel_tables import multilabel_evaluation_text

        return multilabel_evaluation_text(name, metrics) + long_text_text(metrics)
    lines = [f"{name}: {metrics['examples']} examples  loss {metrics['loss']:.4f}  "
             f"accuracy {metrics['accuracy']:.4f}  macro F1 {metrics['macro_f1']:.4f}"]
    if "threshold" in metrics:
        positive = class_names[1]
        lines.append(f"decision threshold {metrics['threshold']:.3f}: {positive} when P({positive}) >= it")
        default = metrics.get("at_0.5")
        if default:
            lines.append(f"at threshold 0.5:  accuracy {default['accuracy']:.4f}  macro F1 "
                         f"{default['macro_f1']:.4f}  {positive} F1 {default['per_class'][positive]['f1']:.4f} "
                         f"(at {metrics['threshold']:.3f}: {metrics['per_class'][positive]['f1']:.4f})")
    lines.append("")
    per_class = metrics["per_class"]
    lines.append(format_table(["class", "precision", "recall", "f1", "support"],
                              [[c, per_class[c]["precision"], per_class[c]["recall"], per_class[c]["f1"],
                                per_class[c]["support"]] for c in class_names]))
    lines += ["", "confusion matrix (rows: true, columns: predicted)"]
    lines.append(format_table(["", *class_names],
                              [[c, *row] for c, row in zip(class_names, metrics["confusion_matrix"])]))
    return "\n".join(lines) + long_text_text(metrics)


def long_text_text(metrics: dict) -> str:
    """`evaluate`'s lines on long texts: how they were read, and the scores by text length."""
    lines = []
    reading = metrics.get("long_text") or {}
    if reading.get("reading") == "windows" and "windows" in reading:
        others = "  ".join(f"{how} {score:.4f}" for how, score in reading.get("aggregations", {}).items())
        lines.append(f"long texts read as windows ({reading['windows']} for {metrics['examples']} texts, "
                     f"{reading['aggregation']} of each text's); aggregated otherwise: {others}")
    elif reading.get("reading") == "truncate":
        lines.append(f"long texts truncated ({reading.get('truncation')})")
    buckets = metrics.get("by_length")
    if buckets:
        headline = "micro_f1" if metrics.get("task") == "multi_label" else "accuracy"
        second = "subset_accuracy" if headline == "micro_f1" else "macro_f1"
        lines += ["", "by length in tokens (the whole text, [CLS] and [SEP] included)"]
        lines.append(format_table(["tokens", "texts", headline.replace("_", " "), second.replace("_", " ")],
                                  [[bucket, entry["examples"], entry.get(headline, ""), entry.get(second, "")]
                                   for bucket, entry in buckets.items()]))
    return "\n" + "\n".join(lines) if lines else ""


def data_report_text(report: dict) -> str:
    """The human-readable form of a data report."""
    if report.get("multi_label"):
        from bertclf.reporting.multilabel_tables import multilabel_data_report_text

        return multilabel_data_report_text(report)
    classes = report["classes"]
    rows = []
    for name, entry in report["splits"].items():
        skipped = entry.get("skipped") or {}
        tokens = entry.get("tokens", {})
        rows.append([name, entry.get("rows_read", ""), entry["examples"],
                     ", ".join(f"{k} {v}" for k, v in skipped.items()) or ("none" if "skipped" in entry else ""),
                     " / ".join(str(entry["label_counts"][c]) for c in classes),
                     f"{tokens['p50']}/{tokens['p90']}/{tokens['p99']}" if tokens else "",
                     f"{tokens['truncated_share']:.1%}" if tokens else ""])
    lines = [f"classes: {', '.join(classes)}", "",
             format_table(["split", "read", "kept", "skipped", "per class", "tokens p50/p90/p99", "truncated"],
                          rows)]
    warnings = report.get("warnings", [])
    lines += [""] + [f"warning: {w}" for w in warnings] if warnings else ["", "no warnings"]
    return "\n".join(lines)
