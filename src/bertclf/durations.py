"""Wall-clock durations as users write them in configs and on the command line: `13m`, `90s`, `1h30m`, `780`.

No TensorFlow here: configs are validated with it.
"""

from __future__ import annotations

import re
from typing import Union

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
USAGE = "a duration such as 13m, 90s, 1h30m, or a number of seconds"


def parse_duration(value: Union[str, int, float]) -> float:
    """Seconds in `value`: a number (seconds) or hours/minutes/seconds parts, largest first.

    Raises:
        ValueError: The text is not a duration, or it is not positive.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {USAGE}, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            parts = _PART.findall(text)
            units = [unit for _, unit in parts]
            if (not parts or "".join(n + u for n, u in parts) != text or len(set(units)) != len(units)
                    or units != sorted(units, key=lambda u: -_UNITS[u])):
                raise ValueError(f"expected {USAGE}, got {value!r}") from None
            seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if not seconds > 0:
        raise ValueError(f"expected a positive duration ({USAGE}), got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """`13 min`, `90 s`, `1 h 30 min`: for messages."""
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.1f} min".replace(".0 min", " min")
    hours, rest = divmod(round(minutes), 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"
