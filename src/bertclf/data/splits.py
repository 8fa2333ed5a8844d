"""Splits of labelled examples, and seeded (stratified) partitions and samples of them."""

from __future__ import annotations

import collections
import dataclasses
import random
from typing import Optional, Sequence


@dataclasses.dataclass
class Split:
    """Texts (optionally paired with a second text) and their label indices, in a fixed order."""

    texts: list[str]
    labels: list[int]
    pairs: Optional[list[str]] = None

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> "Split":
        """The examples at `indices`, in that order."""
        pairs = [self.pairs[i] for i in indices] if self.pairs is not None else None
        return Split([self.texts[i] for i in indices], [self.labels[i] for i in indices], pairs)


def partition(labels: Sequence[int], fraction: float, rng: random.Random,
              stratify: bool = True) -> tuple[list[int], list[int]]:
    """Splits indices into (held out, rest), holding out `fraction` of them.

    Stratified, every class with at least two examples keeps at least one on
    each side; otherwise the split is a plain seeded shuffle.
    """
    if not stratify:
        indices = list(range(len(labels)))
        rng.shuffle(indices)
        take = min(max(round(len(indices) * fraction), 1), len(indices) - 1)
        return indices[:take], indices[take:]
    held_out, rest = [], []
    for indices in _by_class(labels).values():
        rng.shuffle(indices)
        take = round(len(indices) * fraction)
        if len(indices) >= 2:
            take = min(max(take, 1), len(indices) - 1)
        held_out += indices[:take]
        rest += indices[take:]
    rng.shuffle(held_out)
    rng.shuffle(rest)
    return held_out, rest


def stratified_sample(labels: Sequence[int], count: int, rng: random.Random) -> list[int]:
    """Picks `count` indices keeping class proportions (largest remainders get the rest)."""
    groups = _by_class(labels)
    total = len(labels)
    quotas = {label: count * len(idx) / total for label, idx in groups.items()}
    taken = {label: int(q) for label, q in quotas.items()}
    by_remainder = sorted(groups, key=lambda label: quotas[label] - taken[label], reverse=True)
    for label in by_remainder[: count - sum(taken.values())]:
        taken[label] += 1
    chosen = []
    for label, indices in groups.items():
        rng.shuffle(indices)
        chosen += indices[: taken[label]]
    rng.shuffle(chosen)
    return chosen


def sample(labels: Sequence[int], count: int, rng: random.Random, stratify: bool = True) -> list[int]:
    """Picks `count` indices: keeping class proportions (`stratified_sample`), or a plain seeded draw."""
    if stratify:
        return stratified_sample(labels, count, rng)
    indices = list(range(len(labels)))
    rng.shuffle(indices)
    return indices[:count]


def _by_class(labels: Sequence[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = collections.defaultdict(list)
    for i, label in enumerate(labels):
        groups[label].append(i)
    return dict(sorted(groups.items()))
