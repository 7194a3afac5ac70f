"""Durations, sizes and the time scale.

Scenario files speak in the write-ups' units ("60s", "5m", "1024m"). Durations are *story*
time; the `TimeScale` maps them to the seconds the lab really waits, so a five-minute upload
replays in seconds while every timeout keeps its order relative to the others.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, PlainValidator, WithJsonSchema

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_duration(value: object) -> float:
    """'250ms', '30s', '5m', '1.5h' or a bare number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '30s' or '5m'")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value).strip())
        if not match:
            raise ValueError(f"{value!r} is not a duration; write e.g. '30s', '5m', '250ms' or 60")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a duration: it must be a finite number of seconds")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    # Always seconds: "1m" would read as nginx's megabyte next to client_max_body_size.
    if seconds >= 1 or seconds == 0:
        return f"{round(seconds, 3):g}s"
    return f"{round(seconds * 1000):g}ms"


def parse_size(value: object) -> int:
    """'64MiB', '1m' (nginx style, binary), '2g', or a bare number of bytes -> bytes."""
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes or a string like '64MiB'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    match = _SIZE.match(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not a size; write e.g. '64MiB', '1m' or 1048576")
    unit = (match.group(2) or "b").lower()[0]
    exact = Fraction(match.group(1)) * _SIZE_UNITS[unit]
    if exact.denominator != 1:
        raise ValueError(f"{value!r} is not a whole number of bytes")
    return int(exact)


def format_size(n_bytes: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n_bytes >= factor:
            return f"{n_bytes / factor:.4g} {unit}"
    return f"{n_bytes} B"


def exact_size(n_bytes: int) -> str:
    """Bytes in the largest binary unit that divides them: '128MiB', '1536KiB', '10000' (parse_size reads it back)."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n_bytes and n_bytes % factor == 0:
            return f"{n_bytes // factor}{unit}"
    return str(n_bytes)


# The published JSON Schema (schema/scenario.schema.json) shows what a scenario file may say.
_DURATION_SCHEMA = {"anyOf": [{"type": "number", "minimum": 0},
                              {"type": "string", "pattern": r"^\d+(\.\d+)?\s*(ms|s|m|h)?$"}],
                    "description": "seconds, or a string like '30s', '5m', '250ms' (story time)"}
_SIZE_SCHEMA = {"anyOf": [{"type": "integer", "minimum": 0},
                          {"type": "string", "pattern": r"(?i)^\d+(\.\d+)?\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$"}],
                "description": "bytes, or a string like '64MiB', '1m', '2GiB'"}
Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration),
                     WithJsonSchema(_DURATION_SCHEMA, mode="validation")]
Size = Annotated[int, BeforeValidator(parse_size), WithJsonSchema(_SIZE_SCHEMA, mode="validation")]
# A size a knob holds: shown and compared as written ("128MiB"), not as a count of bytes.
KnobSize = Annotated[int, BeforeValidator(parse_size), PlainSerializer(exact_size),
                     WithJsonSchema(_SIZE_SCHEMA, mode="validation")]


MAX_DENOMINATOR = 10_000


@dataclass(frozen=True)
class TimeScale:
    """lab seconds = story seconds × ratio (ratio 1 replays the write-up in real time)."""

    ratio: Fraction

    @classmethod
    def parse(cls, value: object) -> TimeScale:
        if isinstance(value, TimeScale):
            return value
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a time scale; write e.g. 1/30 or 0.1 or 1")
        try:
            exact = Fraction(str(value).strip())
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{value!r} is not a time scale; write e.g. 1/30 or 0.1 or 1") from None
        if not 0 < exact <= 1:
            raise ValueError("a time scale must be above 0 and at most 1 (1 = real time)")
        ratio = exact.limit_denominator(MAX_DENOMINATOR)
        if ratio == 0:
            raise ValueError(f"{value} is too small a time scale: the smallest is 1/{MAX_DENOMINATOR}")
        return cls(ratio)

    def lab_s(self, story_s: float) -> float:
        return float(story_s * self.ratio)

    def lab_s_whole(self, story_s: float) -> int:
        """For servers that only take whole seconds (gunicorn's timeout): round up, at least 1."""
        return max(1, math.ceil(self.lab_s(story_s) - 1e-9))

    def __str__(self) -> str:
        return str(self.ratio) if self.ratio != 1 else "1 (real time)"


_SCALE_SCHEMA = {"anyOf": [{"type": "string", "pattern": r"^\s*\d+(\.\d+)?(\s*/\s*\d+)?\s*$"},
                           {"type": "number", "exclusiveMinimum": 0, "maximum": 1}],
                 "description": "lab seconds per story second, e.g. '1/30' (1 = real time)"}
# In a scenario file: "1/30", 0.1 or 1; in the model: a TimeScale, never re-parsed along the way.
Scale = Annotated[TimeScale, PlainValidator(TimeScale.parse), PlainSerializer(lambda scale: str(scale.ratio)),
                  WithJsonSchema(_SCALE_SCHEMA, mode="validation")]
