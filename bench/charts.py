"""SVG bar charts of a run's own figures: per scenario, each tool's median wall time at its
defaults beside equal concurrency (and CPU where measured), for bench/results.md and the README."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from bench.scenarios import Scenario

Results = dict[tuple[str, str], list]  # (scenario key, tool) -> [Outcome]


def _median(values: list[float]) -> float | None:
    values = [v for v in values if v >= 0 and not math.isnan(v)]
    return statistics.median(values) if values else None


def draw(scenarios: dict[str, Scenario], results: Results, out: Path) -> list[str]:
    """One SVG per scenario family (the scenario and its variants); the paths written, relative
    to `out`'s parent (bench/)."""
    import pygal  # bench-only extra: pip install '.[bench]'

    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    families: dict[str, list[Scenario]] = {}
    for sc in scenarios.values():
        families.setdefault(sc.base or sc.key, []).append(sc)
    for key, members in families.items():
        tools = list(dict.fromkeys(t for sc in members for t in sc.tools))
        metrics = [("wall s", "wall")]
        if key == "lan-big":
            metrics.append(("CPU s", "cpu"))
        chart = pygal.HorizontalBar(
            title=members[0].title, x_title="seconds (median; lower is better)", height=120 + 40 * len(tools)
        )
        chart.x_labels = tools
        for sc in members:
            label = "defaults" if sc.mode.jobs is None else f"{sc.mode.jobs} at once"
            if sc.mode.parallel:
                label += ", peers in parallel"
            for name, attr in metrics:
                series = []
                for tool in tools:
                    runs = [r for r in results.get((sc.key, tool), []) if r.ok]
                    series.append(_median([getattr(r, attr) for r in runs]) if tool in sc.tools else None)
                chart.add(f"{name}, {label}" if len(metrics) > 1 else label, series)
        path = out / f"{key}.svg"
        path.write_bytes(chart.render())
        written.append(f"{out.name}/{path.name}")
    return written
