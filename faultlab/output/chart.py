"""A step's statuses over time as inline SVG: no script, font or library, so the report stays one file.

A few requests (uploads, short loads) get one bar each, from when it was sent to when it ended, so
the chart also shows how long each took; many requests (ab-style loads) are counted per time
bucket by when their answer came, stacked by outcome, so a race shows as red in some buckets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from faultlab.run.traffic import RequestRecord

BARS_UP_TO = 30  # requests; above that, bucketed counts stay readable where bars would not
BUCKETS = 40
WIDTH = 960
PLOT_LEFT, PLOT_RIGHT = 56, 16
NO_RESPONSE = "no response"

# Fixed colours per status, so the same status looks the same in every step and every report.
_STATUS_COLOURS = {200: "#2e7d32", 413: "#ef6c00", 499: "#8d6e63", 500: "#c62828", 502: "#ad1457",
                   503: "#6a1b9a", 504: "#283593"}
_CLASS_COLOURS = {2: "#43a047", 3: "#1565c0", 4: "#f9a825", 5: "#e53935"}


def duration(seconds: float) -> str:
    """Milliseconds below a second: a 2 ms 502 and a 10 s 504 both read at a glance."""
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms" if seconds >= 0.001 else "<1 ms"


def colour(outcome: int | str) -> str:
    if isinstance(outcome, int):
        return _STATUS_COLOURS.get(outcome) or _CLASS_COLOURS.get(outcome // 100, "#455a64")
    return "#757575"


def outcome_of(record: RequestRecord) -> int | str:
    return record.status if record.status is not None else NO_RESPONSE


@dataclass(frozen=True)
class Legend:
    outcome: int | str
    count: int
    colour: str


def legend(records: list[RequestRecord]) -> list[Legend]:
    counts = Counter(outcome_of(r) for r in records)
    order = sorted(counts, key=lambda o: (isinstance(o, str), str(o)))
    return [Legend(outcome, counts[outcome], colour(outcome)) for outcome in order]


# A moment in the step (epoch seconds) and what happened then: a deploy's actions, drawn over the statuses.
Moment = tuple[float, str]


def status_chart(records: list[RequestRecord], moments: Sequence[Moment] = ()) -> str:
    """The SVG markup (an <svg> element), or "" when there is nothing to draw."""
    if not records:
        return ""
    return _bars(records, moments) if len(records) <= BARS_UP_TO else _buckets(records, moments)


def _moments(moments: Sequence[Moment], start: float, scale: float, top: int, bottom: int) -> list[str]:
    """A dashed line per moment, numbered at the top; the full text in its tooltip and under the chart."""
    marks = []
    for number, (when, text) in enumerate(moments, 1):
        x = min(max(PLOT_LEFT + (when - start) * scale, PLOT_LEFT), WIDTH - PLOT_RIGHT)
        marks.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#212121" '
                     f'stroke-dasharray="4 3"><title>{escape(text)}</title></line>'
                     f'<text x="{x + 3:.1f}" y="{top + 10}" fill="#212121">{number}</text>')
    return marks


def _seconds_axis(span_s: float, top: int, bottom: int) -> tuple[float, list[str]]:
    """Pixels per second and the tick marks (grid lines and labels) for a time axis of span_s."""
    span_s = max(span_s, 1e-3)
    scale = (WIDTH - PLOT_LEFT - PLOT_RIGHT) / span_s
    raw = span_s / 6
    step = min((n * 10 ** e for e in range(-3, 5) for n in (1, 2, 5) if n * 10 ** e >= raw), default=raw)
    ticks = []
    t = 0.0
    while t <= span_s * 1.0001:
        x = PLOT_LEFT + t * scale
        ticks.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#e0e0e0"/>'
                     f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{t:g} s</text>')
        t = round(t + step, 6)
    return scale, ticks


def _bars(records: list[RequestRecord], moments: Sequence[Moment]) -> str:
    start = min(r.started_at for r in records)
    span = max(r.started_at - start + r.elapsed_s for r in records)
    row, top = 22, 8
    bottom = top + row * len(records)
    scale, ticks = _seconds_axis(span, top, bottom)
    marks = []
    for index, record in enumerate(records):
        x = PLOT_LEFT + (record.started_at - start) * scale
        width = max(record.elapsed_s * scale, 2.0)
        y = top + index * row + 3
        label = f"{record.outcome} · {duration(record.elapsed_s)}"
        inside = width > 8 * len(label)
        text_x = x + 6 if inside else min(x + width + 6, WIDTH - PLOT_RIGHT - 7 * len(label))
        marks.append(
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{row - 6}" rx="2" '
            f'fill="{colour(outcome_of(record))}"><title>{escape(record.request_id)}: {escape(label)}</title></rect>'
            f'<text x="{text_x:.1f}" y="{y + row - 10}" fill="{"#fff" if inside else "#212121"}">{escape(label)}</text>'
            f'<text x="{PLOT_LEFT - 6}" y="{y + row - 10}" text-anchor="end">#{index + 1}</text>')
    marks += _moments(moments, start, scale, top, bottom)
    return _svg(bottom + 22, ticks, marks, "one bar per request, from sent to answered, coloured by status")


def _buckets(records: list[RequestRecord], moments: Sequence[Moment]) -> str:
    start = min(r.started_at for r in records)
    ends = [r.started_at - start + r.elapsed_s for r in records]
    span = max(max(ends), 1e-3)
    width_s = span / BUCKETS
    counts: list[Counter[int | str]] = [Counter() for _ in range(BUCKETS)]
    for record, end in zip(records, ends, strict=True):
        counts[min(int(end / width_s), BUCKETS - 1)][outcome_of(record)] += 1
    peak = max(sum(c.values()) for c in counts)
    top, height = 8, 160
    bottom = top + height
    scale, ticks = _seconds_axis(span, top, bottom)
    order = [entry.outcome for entry in legend(records)]
    marks = [f'<text x="{PLOT_LEFT - 6}" y="{top + 10}" text-anchor="end">{peak}</text>',
             f'<text x="{PLOT_LEFT - 6}" y="{bottom}" text-anchor="end">0</text>']
    for index, bucket in enumerate(counts):
        x = PLOT_LEFT + index * width_s * scale
        y = float(bottom)
        for outcome in order:
            if not bucket[outcome]:
                continue
            h = bucket[outcome] / peak * height
            y -= h
            marks.append(f'<rect x="{x + 0.5:.1f}" y="{y:.1f}" width="{max(width_s * scale - 1, 1):.1f}" '
                         f'height="{h:.1f}" fill="{colour(outcome)}"><title>{escape(str(outcome))} ×'
                         f'{bucket[outcome]} at {index * width_s:.2f}–{(index + 1) * width_s:.2f} s</title></rect>')
    marks += _moments(moments, start, scale, top, bottom)
    return _svg(bottom + 22, ticks, marks, f"answers per {duration(width_s)}, by when they came, stacked by status")


def _svg(height: int, ticks: list[str], marks: list[str], title: str) -> str:
    caption = f"{title}; time since the step's first request"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height + 16}" '
            f'width="100%" role="img" font-family="sans-serif" font-size="11" fill="#424242">'
            f'<title>{escape(caption)}</title>{"".join(ticks)}{"".join(marks)}'
            f'<text x="{WIDTH - PLOT_RIGHT}" y="{height + 12}" text-anchor="end" fill="#757575">{escape(caption)}'
            '</text></svg>')
