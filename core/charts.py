"""Charts as server-rendered SVG: no script, no style attribute or element (the CSP allows neither), so they draw the
same inline in a page and as an image of their own. Colours are presentation attributes, which the CSP does not
govern; every mark carries a <title>, which browsers show on hover and screen readers read.

Three shapes cover the usage pages: stacked columns over days, horizontal bars for a ranking, lines over days.
"""

import math
from collections.abc import Sequence
from html import escape

from django.utils.safestring import SafeString, mark_safe

# Distinguishable for the common colour-vision deficiencies (Okabe–Ito), on the light page background.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 28, 36  # room for the axis labels and the legend
TEXT = 'font-family="system-ui, sans-serif" font-size="11" fill="#333"'


def _number(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def _nice_top(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at or above ``value``, so the gridlines read as round numbers."""
    if value <= 0:
        return 1
    step = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if value <= factor * step:
            return factor * step
    return 10 * step


def _frame(title: str, body: list[str], legend: Sequence[str], *, height: int = HEIGHT) -> SafeString:
    keys = []
    for n, name in enumerate(legend):
        x = LEFT + n * 130
        keys.append(f'<rect x="{x}" y="6" width="10" height="10" fill="{PALETTE[n % len(PALETTE)]}"/>')
        keys.append(f'<text x="{x + 14}" y="15" {TEXT}>{escape(name)}</text>')
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
        f'height="{height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        + "".join(keys + body)
        + "</svg>"
    )
    return mark_safe(svg)  # noqa: S308 every piece of text in it went through escape()


def _grid(top: float, plot_height: int, unit: str) -> list[str]:
    lines = []
    for n in range(5):
        value = top * n / 4
        y = TOP + plot_height - plot_height * n / 4
        lines.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        label = f"{_number(value)}{unit}"
        lines.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" {TEXT}>{label}</text>')
    return lines


def _day_labels(labels: Sequence[str], slot: float) -> list[str]:
    every = max(1, len(labels) // 8)  # at most about eight labels, so they never overlap
    return [
        f'<text x="{LEFT + slot * (n + 0.5):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" {TEXT}>'
        f"{escape(label)}</text>"
        for n, label in enumerate(labels)
        if n % every == 0
    ]


def columns(title: str, labels: Sequence[str], series: dict[str, Sequence[float]], unit: str = "") -> SafeString:
    """Stacked columns: one per label (a day), one colour per series."""
    totals = [sum(values[n] for values in series.values()) for n in range(len(labels))]
    top, plot_height = _nice_top(max(totals, default=0)), HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    body = _grid(top, plot_height, unit)
    for n, label in enumerate(labels):
        base = TOP + plot_height
        for colour, (name, values) in zip(PALETTE, series.items(), strict=False):
            size = plot_height * values[n] / top
            base -= size
            x = LEFT + slot * n + slot * 0.15
            body.append(
                f'<rect class="mark" x="{x:.1f}" y="{base:.1f}" width="{slot * 0.7:.1f}" height="{size:.1f}" '
                f'fill="{colour}"><title>{escape(label)} {escape(name)}: {_number(values[n])}{unit}</title></rect>'
            )
    return _frame(title, body + _day_labels(labels, slot), list(series))


def bars(title: str, rows: Sequence[tuple[str, float]], unit: str = "") -> SafeString:
    """Horizontal bars, largest first as given: a ranking (models, people)."""
    row_height, label_width = 22, 150
    height = TOP + row_height * max(1, len(rows)) + 8
    top = _nice_top(max((value for _, value in rows), default=0))
    span = WIDTH - label_width - RIGHT - 60
    body = []
    for n, (label, value) in enumerate(rows):
        y = TOP + n * row_height
        width = span * value / top
        shown = f"{_number(value)}{unit}"
        body += [
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end" {TEXT}>{escape(label[:24])}</text>',
            f'<rect class="mark" x="{label_width}" y="{y + 3}" width="{width:.1f}" height="{row_height - 6}" '
            f'fill="{PALETTE[0]}"><title>{escape(label)}: {shown}</title></rect>',
            f'<text x="{label_width + width + 6:.1f}" y="{y + 15}" {TEXT}>{shown}</text>',
        ]
    if not rows:
        body.append(f'<text x="{label_width}" y="{TOP + 15}" {TEXT}>Nothing yet</text>')
    return _frame(title, body, [], height=height)


def lines(title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]], unit: str = "") -> SafeString:
    """Lines over days; ``None`` is a day without data (the line breaks there instead of dropping to zero)."""
    known = [value for values in series.values() for value in values if value is not None]
    top, plot_height = _nice_top(max(known, default=0)), HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    body = _grid(top, plot_height, unit)
    for colour, (name, values) in zip(PALETTE, series.items(), strict=False):
        points, segments = [], []
        for n, value in enumerate([*values, None]):
            if value is None:
                if points:
                    segments.append(points)
                points = []
                continue
            x, y = LEFT + slot * (n + 0.5), TOP + plot_height - plot_height * value / top
            points.append(f"{x:.1f},{y:.1f}")
            body.append(
                f'<circle class="mark" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(labels[n])} {escape(name)}: {_number(value)}{unit}</title></circle>"
            )
        body += [
            f'<polyline points="{" ".join(segment)}" fill="none" stroke="{colour}" stroke-width="2"/>'
            for segment in segments
        ]
    return _frame(title, body + _day_labels(labels, slot), list(series))
