"""The evaluation's figures laid out for the model page: tables and bar charts drawn as SVG.

The numbers are those ``c2c evaluate`` wrote (value and 95% interval per method and metric);
this module only places them: bar lengths and whisker ends in the chart's coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Metrics in the order the tables show them; ``median_rank`` is not a share and is left out of charts.
METRICS = ("hit@1", "hit@5", "hit@10", "mrr", "reciprocal_hit@10", "coverage@10", "median_rank")
CHARTED = ("hit@10", "mrr")
WIDTH = 320
BAR = 18
GAP = 8
LABEL = 150


@dataclass(frozen=True)
class Bar:
    """One method's bar: its label, value, interval and where to draw them."""

    method: str
    value: float
    low: float | None
    high: float | None
    y: int
    width: float
    low_x: float | None
    high_x: float | None


@dataclass(frozen=True)
class Chart:
    metric: str
    bars: list[Bar]
    height: int
    width: int = WIDTH
    label: int = LABEL


def _estimate(raw: Any) -> tuple[float | None, float | None, float | None]:
    if isinstance(raw, dict):
        return raw.get("value"), raw.get("low"), raw.get("high")
    if isinstance(raw, (int, float)):
        return float(raw), None, None
    return None, None, None


def chart(metric: str, methods: dict[str, dict[str, Any]]) -> Chart:
    """A horizontal bar chart of ``metric`` (a share in [0, 1]) for every method that has it."""
    bars = []
    for method, metrics in methods.items():
        value, low, high = _estimate(metrics.get(metric))
        if value is None:
            continue
        y = GAP + len(bars) * (BAR + GAP)
        scale = WIDTH - LABEL - 10

        def x(share: float | None) -> float | None:
            return None if share is None else LABEL + max(0.0, min(1.0, share)) * scale

        bars.append(Bar(method=method, value=value, low=low, high=high, y=y,
                        width=max(0.0, min(1.0, value)) * scale, low_x=x(low), high_x=x(high)))
    return Chart(metric=metric, bars=bars, height=GAP + len(bars) * (BAR + GAP))


def evaluation_view(data: dict[str, Any]) -> dict[str, Any]:
    """Settings, and per protocol a table (rows of value and interval) and its charts."""
    protocols = []
    for name, proto in (data.get("protocols") or {}).items():
        methods: dict[str, dict[str, Any]] = proto.get("methods") or {}
        present = [m for m in METRICS if any(m in row for row in methods.values())]
        rows = [(method, [_estimate(metrics.get(m)) for m in present]) for method, metrics in methods.items()]
        protocols.append({"name": name, "pairs": proto.get("pairs"), "folds": proto.get("folds"), "metrics": present,
                          "rows": rows, "charts": [chart(m, methods) for m in CHARTED if m in present]})
    return {"settings": data.get("settings") or {}, "protocols": protocols}
