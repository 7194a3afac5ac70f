"""Wording shared by every view: how a knob change, a check and a suggested next command read.

The views never spell the command line themselves: the CLI hands them `Hints`, which say how its
commands are written (a library user passes none and gets no suggestions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from faultlab.model.plan import KnobChange
from faultlab.model.scenario import Action, CountRange
from faultlab.run.events import ActionRecord
from faultlab.run.verdict import (
    AnsweredByCheck,
    Check,
    Counts,
    DuplicatesCheck,
    FailureStatusesCheck,
    LogCheck,
    OutcomeCheck,
    RepeatedEffectsCheck,
    UploadCheck,
)
from faultlab.units import format_duration, format_size


class Hints(Protocol):
    """The commands a view may suggest, as the user would type them."""

    def run(self, target: str, step: str | None = None) -> str: ...

    def fix(self, target: str, fmt: str | None = None, choices: Sequence[str] = ()) -> str: ...

    def explain(self, target: str) -> str: ...

    def report(self, target: str, step: str | None = None, directory: str = "out/") -> str: ...


def value(knob_value: Any) -> str:
    """A knob's value as the config file would say it: lowercase booleans, `(unset)` for a default."""
    if knob_value is None:
        return "(unset)"
    if isinstance(knob_value, bool):
        return "true" if knob_value else "false"
    return str(knob_value)


def change(knob: KnobChange, *, with_hop: bool = False) -> str:
    text = f"{knob.knob} {value(knob.before)} → {value(knob.after)}"
    return f"{knob.hop} {text}" if with_hop else text


def changes(knobs: Sequence[KnobChange], empty: str = "no config change") -> str:
    return "; ".join(change(knob, with_hop=True) for knob in knobs) or empty


@dataclass(frozen=True)
class CheckText:
    label: str  # what was judged
    expected: str
    observed: str
    is_log: bool  # expected and observed are a regex and a log line: shown as code


def _counts(counts: Counts) -> str:
    return ", ".join(f"{outcome} ×{count}" for outcome, count in counts)


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check(item: Check, *, short: bool = False) -> CheckText:
    """How one check reads, in every view; `short` (the terminal) shows a log line's message only."""
    match item:
        case OutcomeCheck(failures=CountRange() as failures):
            return CheckText("requests without a 2xx", f"{failures} of {item.total}",
                             f"{item.failed} ({_counts(item.outcomes)})", False)
        case OutcomeCheck(no_response=True):
            return CheckText("status at the client", f"no response ×{item.total}", _counts(item.outcomes), False)
        case OutcomeCheck():
            return CheckText("status at the client", f"{item.status} ×{item.total}", _counts(item.outcomes), False)
        case FailureStatusesCheck():
            return CheckText("failures are", " or ".join(map(str, item.allowed)),
                             _counts(item.others) if item.others else "all of them", False)
        case AnsweredByCheck():
            if not item.judged:
                return CheckText("answered by", item.expected, "no such requests to trace", False)
            observed = ", ".join(f"{origin} ×{count}" if item.judged > 1 else origin for origin, count in item.origins)
            return CheckText("answered by", item.expected, observed, False)
        case LogCheck():
            stream = "" if item.stream == "any" else f" {item.stream} log"
            if item.first is not None:
                first = item.first_message if short and item.first_message else item.first
                observed = _shorten(first) + (f"  (+{item.found - 1} more)" if item.found > 1 else "")
            else:
                observed = (f"no matching line among {item.seen}"
                            + (f"; the last one: {_shorten(item.last_seen)}" if item.last_seen else ""))
            return CheckText(f"log at {item.hop}{stream}", f"/{item.pattern}/", observed, True)
        case UploadCheck():
            if item.bytes_received is None:
                observed = "no JSON answer from the app"
            else:
                observed = (f"app got {format_size(item.bytes_received)}, sha256 "
                            f"{'matches' if item.sha256_matches else 'differs'}")
            return CheckText("upload arrived whole", f"{format_size(item.bytes_sent)}, same sha256", observed, False)
        case DuplicatesCheck():
            observed = f"{item.duplicated}" + (f" (one of them {item.most} times)" if item.most > 2 else "")
            return CheckText("requests the app handled twice or more", f"{item.expected} of {item.total}",
                             f"{observed}; {item.handled} of {item.total} reached the app", False)
        case RepeatedEffectsCheck():
            return CheckText("side effects performed twice or more", f"{item.expected} of {item.total}",
                             f"{item.repeated}; {item.performed} of {item.total} performed", False)
    raise TypeError(f"no wording for {type(item).__name__}")



def planned(actions: Sequence[Action]) -> str:
    """A step's actions as written: "at 20s SIGTERM to app #1 · at 30s start app #1"."""
    return " · ".join(f"at {format_duration(a.at)} {a.describe()}" for a in sorted(actions, key=lambda a: a.at))


def fix(knob_changes: Sequence[KnobChange], actions: Sequence[Action] = ()) -> str:
    """A fix in one line: its knob changes, and the order of its actions when it is a deploy's."""
    if not actions:
        return changes(knob_changes)
    order = f"in this order: {planned(actions)}"
    return f"{changes(knob_changes)}; {order}" if knob_changes else order


def action(done: ActionRecord) -> str:
    """One action of a step as it happened: story time, the lab's clock, what, and what else it did."""
    planned = format_duration(done.action.at)
    text = f"{planned} (lab {done.at_s:.2f} s): {done.action.describe()}"
    return text + (f"; {done.detail}" if done.detail else "")
