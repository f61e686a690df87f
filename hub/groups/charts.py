"""Stacked bar charts laid out in Python and drawn by templates as SVG with presentation
attributes only (the Content-Security-Policy forbids style attributes). Each chart is shown
with a table of the same figures."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Bar:
    """One segment of a stacked bar: where it is drawn and what it stands for."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Tick:
    """A gridline and its value."""

    y: float
    value: int


@dataclass(frozen=True)
class AxisLabel:
    """A month under its bar."""

    x: float
    text: str


@dataclass
class Chart:
    """A stacked bar chart drawn as SVG by the template (attributes only, no style)."""

    id: str
    title: str
    description: str
    width: int
    height: int
    left: int
    baseline: float
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[AxisLabel]
    legend: list[tuple[str, str]]
    empty: bool


WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 16, 40


def scale(value: int) -> tuple[int, int]:
    """The axis for counts up to `value`: a round step (1, 2 or 5 x 10^n) and the top of the
    axis, a whole number of steps (at most four) at or above `value`."""
    value = max(value, 4)
    step = 1
    while True:
        for multiple in (1, 2, 5):
            if multiple * step * 4 >= value:
                size = multiple * step
                return size, size * math.ceil(value / size)
        step *= 10


def stacked_bars(
    chart_id: str,
    title: str,
    months: list[date],
    series: tuple[tuple[str, str, str], ...],
    values: dict[str, list[int]],
) -> Chart:
    """Lay out one bar per month, each stacked from the series in order."""
    totals = [sum(values[key][i] for key, _l, _c in series) for i in range(len(months))]
    step, top = scale(max(totals, default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_height
    slot = plot_width / max(len(months), 1)
    bar_width = slot * 0.6
    bars: list[Bar] = []
    labels: list[AxisLabel] = []
    for i, month in enumerate(months):
        x = LEFT + i * slot + (slot - bar_width) / 2
        labels.append(AxisLabel(round(LEFT + i * slot + slot / 2, 1), f"{month:%b}"))
        y = baseline
        for key, label, colour in series:
            count = values[key][i]
            if not count:
                continue
            height = plot_height * count / top
            y -= height
            bars.append(
                Bar(
                    round(x, 1),
                    round(y, 1),
                    round(bar_width, 1),
                    round(height, 1),
                    colour,
                    f"{month:%B %Y}: {label}, {count}",
                )
            )
    ticks = [
        Tick(round(baseline - plot_height * value / top, 1), value)
        for value in range(0, top + 1, step)
    ]
    legend = [(label, colour) for key, label, colour in series if any(values[key])]
    description = (
        f"A stacked bar for each month from {months[0]:%B %Y} to {months[-1]:%B %Y}; "
        "the table below gives the same figures."
        if months
        else ""
    )
    return Chart(
        chart_id,
        title,
        description,
        WIDTH,
        HEIGHT,
        LEFT,
        baseline,
        bars,
        ticks,
        labels,
        legend,
        empty=not any(totals),
    )
