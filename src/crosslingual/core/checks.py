"""Checking one parameter: a value outside what is allowed is one :class:`ConfigError` line that names the
parameter, its value and the allowed range or choices, raised before any work starts. The config's fields, the
grids, the command line and the notebooks' own parameters all check through these, so that every message reads
alike.
"""

from __future__ import annotations

import math
from typing import Any

from crosslingual.errors import ConfigError


def check_range(name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False,
                 hi_open: bool = False, integer: bool = False) -> None:
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ConfigError(f"{name}={value!r} must be {kind} in {_fmt_range(lo, hi, lo_open, hi_open)}")
    if not math.isfinite(value):  # NaN fails every comparison below and would pass as "in range"
        raise ConfigError(f"{name}={value!r} must be a finite number in {_fmt_range(lo, hi, lo_open, hi_open)}")
    too_low = value <= lo if lo_open else value < lo
    too_high = value >= hi if hi_open else value > hi
    if too_low or too_high:
        raise ConfigError(f"{name}={value!r} is out of range: allowed {_fmt_range(lo, hi, lo_open, hi_open)}")


def _fmt_range(lo: float, hi: float, lo_open: bool, hi_open: bool) -> str:
    return f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"


def check_choice(name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not allowed: choose one of {', '.join(map(repr, allowed))}")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}={value!r} must be a boolean (True or False)")


def check_count(name: str, value: Any, lo: int, hi: int) -> int:
    """Validate a notebook-level integer parameter such as ``seeds``."""
    check_range(name, value, lo, hi, integer=True)
    return int(value)


def check_number(name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> float:
    """Validate a notebook-level real parameter such as a learning rate."""
    check_range(name, value, lo, hi, lo_open=lo_open, hi_open=hi_open)
    return float(value)
