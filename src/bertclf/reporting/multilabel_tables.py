"""Terminal text for multi-label evaluations and data reports (label sets per text)."""

from __future__ import annotations

from bertclf.reporting.tables import format_table


def multilabel_evaluation_text(name: str, metrics: dict) -> str:
    """`bertclf evaluate`'s report of a multi-label split: summaries, then labels by support."""
    lines = [f"{name}: {metrics['examples']} examples  micro F1 {metrics['micro_f1']:.4f}  "
             f"macro F1 {metrics['macro_f1']:.4f}  weighted F1 {metrics['weighted_f1']:.4f}  "
             f"samples F1 {metrics['samples_f1']:.4f}",
             f"subset accuracy {metrics['subset_accuracy']:.4f}  Hamming loss {metrics['hamming_loss']:.4f}  "
             f"micro precision {metrics['micro_precision']:.4f}  micro recall {metrics['micro_recall']:.4f}  "
             f"loss {metrics['loss']:.4f}"]
    default = metrics.get("at_0.5")
    if default:
        lines.append(f"at threshold 0.5 for every label:  micro F1 {default['micro_f1']:.4f}  "
                     f"macro F1 {default['macro_f1']:.4f}")
    left_out = metrics.get("left_out_labels", {})
    if left_out.get("labels"):
        lines.append(f"left out (no positive training example, never predicted): "
                     + ", ".join(f"{label} ({count} here)" for label, count in left_out["labels"].items())
                     + f"; {left_out['positives']} positives of this split not in any average")
    if metrics.get("labels_without_positives"):
        lines.append(f"{metrics['labels_without_positives']} label(s) without a positive here: their F1 is 0 "
                     f"(and counts in the macro average)")
    per_label = metrics["per_label"]
    order = sorted(per_label, key=lambda label: (-per_label[label]["support"], label))
    lines += ["", format_table(
        ["label", "precision", "recall", "f1", "support", "threshold", "average precision"],
        [[label, per_label[label]["precision"], per_label[label]["recall"], per_label[label]["f1"],
          per_label[label]["support"], per_label[label]["threshold"], per_label[label].get("average_precision")]
         for label in order])]
    return "\n".join(lines)


def multilabel_data_report_text(report: dict) -> str:
    """The data report of label sets: splits, then each label's positives per split."""
    labels = report["classes"]
    splits = report["splits"]
    rows = []
    for name, entry in splits.items():
        skipped = entry.get("skipped") or {}
        tokens = entry.get("tokens", {})
        rows.append([name, entry.get("rows_read", ""), entry["examples"],
                     ", ".join(f"{k} {v}" for k, v in skipped.items()) or ("none" if "skipped" in entry else ""),
                     entry["labels_per_text"], entry["texts_without_labels"],
                     f"{tokens['p50']}/{tokens['p90']}/{tokens['p99']}" if tokens else "",
                     f"{tokens['truncated_share']:.1%}" if tokens else ""])
    lines = [f"{len(labels)} labels, any number per text", "",
             format_table(["split", "read", "kept", "skipped", "labels per text", "no label",
                           "tokens p50/p90/p99", "truncated"], rows), "",
             format_table(["label", *splits], [[label, *(splits[name]["label_counts"][label] for name in splits)]
                                               for label in labels])]
    left_out = report.get("left_out_labels", {})
    if left_out:
        lines += ["", "left out (no positive training example): " + ", ".join(
            f"{label} ({', '.join(f'{split} {count}' for split, count in counts.items())})"
            for label, counts in left_out.items())]
    warnings = report.get("warnings", [])
    lines += [""] + [f"warning: {w}" for w in warnings] if warnings else ["", "no warnings"]
    return "\n".join(lines)
