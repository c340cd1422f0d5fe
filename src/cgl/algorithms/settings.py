"""Checks a method runs on its own settings (`method.kwargs`) before anything starts.

Each raises a ConfigError whose one paragraph names the key as the user sets it
(`method.kwargs.<key>=...`), what it means and what it got. Import-light on purpose: the
command line refuses bad input before torch is imported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from cgl.config.errors import ConfigError


def _key(method: str, key: str) -> str:
    return f"method={method}: method.kwargs.{key}"


def check_number(
    method: str,
    kwargs: Mapping[str, Any],
    key: str,
    what: str,
    low: float = 0.0,
    low_open: bool = False,
    high: float = math.inf,
) -> None:
    """A finite number in [low, high] (or (low, high] with `low_open`)."""
    value = kwargs.get(key)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    inside = number and math.isfinite(value) and (value > low if low_open else value >= low)
    if not inside or value > high:
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        if math.isfinite(high):
            bound += f" and <= {high:g}"
        raise ConfigError(
            f"{_key(method, key)} ({what}) must be a finite number {bound}, got {value}."
        )


def check_nonnegative(method: str, kwargs: Mapping[str, Any], key: str, what: str) -> None:
    """A method's strength: >= 0 (0 switches the method off; the root key `lamb` sets it)."""
    check_number(method, kwargs, key, f"{what}; the root key lamb sets it", low=0.0)


def check_positive_int(method: str, kwargs: Mapping[str, Any], key: str) -> None:
    value = kwargs.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{_key(method, key)} must be a positive integer, got {value}.")


def check_one_of(
    method: str, kwargs: Mapping[str, Any], key: str, choices: Iterable[str], meaning: str
) -> None:
    value = kwargs.get(key)
    known = sorted(choices)
    if value not in known:
        raise ConfigError(
            f"{_key(method, key)}={value} is not one of {', '.join(known)} ({meaning})."
        )


def check_bool(method: str, kwargs: Mapping[str, Any], key: str, meaning: str) -> None:
    value = kwargs.get(key)
    if not isinstance(value, bool):
        raise ConfigError(f"{_key(method, key)} must be true or false ({meaning}), got {value}.")
