"""Server-rendered bar charts: the numbers an inline SVG needs (no JavaScript, no CDN)."""

from __future__ import annotations

from dataclasses import dataclass

from fidelis.report.service import Day

HEIGHT = 160
BAR = 6
GAP = 2
GROUP_GAP = 8
SERIES = (("issued", "Issued"), ("redeemed", "Redeemed"), ("expired", "Expired"))


@dataclass(frozen=True, slots=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    series: str
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[int, str]]
    peak: int


def daily_bars(days: list[Day]) -> Chart:
    """Grouped bars per day: points issued, redeemed and expired, scaled to the busiest day."""
    peak = max(
        (getattr(day.flows, name) for day in days for name, _ in SERIES),
        default=0,
    )
    group = len(SERIES) * (BAR + GAP) + GROUP_GAP
    bars: list[Bar] = []
    ticks: list[tuple[int, str]] = []
    for n, day in enumerate(days):
        left = n * group
        if n % 7 == 0 or n == len(days) - 1:
            ticks.append((left, day.day.strftime("%d/%m")))
        for k, (name, title) in enumerate(SERIES):
            points = getattr(day.flows, name)
            # Integer arithmetic: a bar is at least 1px when there was any movement.
            height = 0 if peak == 0 or points == 0 else max(1, points * HEIGHT // peak)
            bars.append(
                Bar(
                    x=left + k * (BAR + GAP),
                    y=HEIGHT - height,
                    width=BAR,
                    height=height,
                    series=name,
                    label=f"{day.day.isoformat()}: {points} {title.lower()}",
                )
            )
    return Chart(
        width=max(len(days) * group, group), height=HEIGHT, bars=bars, ticks=ticks, peak=peak
    )
