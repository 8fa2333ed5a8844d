"""Splits and samples of multi-label examples: iterative stratification.

A text with several labels cannot be stratified class by class as `splits.partition` does:
one text is in every one of its labels' groups. Iterative stratification (Sechidis, Tsoumakas
and Vlahavas, "On the Stratification of Multi-Label Data", ECML PKDD 2011, algorithm 1) deals
the examples out label by label, the rarest label first, each example to the side that most
wants that label, so that every label with at least two examples is on both sides where it can
be, in about the requested shares. Seeded: the same labels and seed give the same split.
"""

from __future__ import annotations

import random
from typing import Sequence


def iterative_partition(label_sets: Sequence[Sequence[int]], fraction: float,
                        rng: random.Random) -> tuple[list[int], list[int]]:
    """Splits indices into (held out, rest), holding out about `fraction` of the examples and of
    each label's examples.

    Args:
        label_sets: Per example, the indices of its labels (possibly none).
        fraction: The share held out, in (0, 1).
        rng: The seeded source of every tie-break.

    Returns:
        The held-out indices and the others, each shuffled. Every label with two or more examples
        has at least one on each side, unless all of its examples also carry a rarer label whose
        own split decided otherwise (rare in practice; the function then keeps the shares).
    """
    n = len(label_sets)
    shares = (fraction, 1.0 - fraction)
    wanted_total = [n * share for share in shares]
    counts: dict[int, int] = {}
    for labels in label_sets:
        for label in set(labels):
            counts[label] = counts.get(label, 0) + 1
    wanted = {label: [count * share for share in shares] for label, count in counts.items()}
    # At least one example of each label with two or more on each side: the desired counts say
    # so from the start, so the rarest labels are split before the frequent ones fill a side.
    for label, count in counts.items():
        if count >= 2:
            wanted[label] = [max(value, 1.0) for value in wanted[label]]
    sides: list[list[int]] = [[], []]
    left = set(range(n))
    remaining = dict(counts)
    by_label: dict[int, list[int]] = {}
    for i, labels in enumerate(label_sets):
        for label in set(labels):
            by_label.setdefault(label, []).append(i)
    while remaining:
        fewest = min(remaining.values())
        label = rng.choice(sorted(label for label, count in remaining.items() if count == fewest))
        examples = [i for i in by_label[label] if i in left]
        rng.shuffle(examples)
        for i in examples:
            side = _choose(wanted[label], wanted_total, rng)
            sides[side].append(i)
            left.discard(i)
            wanted_total[side] -= 1
            for other in set(label_sets[i]):
                wanted[other][side] -= 1
                remaining[other] -= 1
                if remaining[other] == 0:
                    del remaining[other]
    for i in sorted(left):  # examples with no label: wherever the shares still want them
        side = _choose(wanted_total, wanted_total, rng)
        sides[side].append(i)
        wanted_total[side] -= 1
    held_out, rest = sides
    rng.shuffle(held_out)
    rng.shuffle(rest)
    return held_out, rest


def _choose(wanted: list[float], wanted_total: list[float], rng: random.Random) -> int:
    """The side that wants this label most; ties go to the side that wants most examples, then
    to chance."""
    best = max(wanted)
    sides = [side for side, value in enumerate(wanted) if value == best]
    if len(sides) > 1:
        most = max(wanted_total[side] for side in sides)
        sides = [side for side in sides if wanted_total[side] == most]
    return sides[0] if len(sides) == 1 else rng.choice(sides)
