"""The chart's observability assets, and which metric names they use.

Shared by tests/unit/test_observability.py (offline: promtool, the metrics.py registry)
and tests/cluster/test_observability_live.py (a live /metrics scrape of the operator).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "mcpops"
RULES = CHART / "rules" / "mcpops.rules.yaml"
DASHBOARD = CHART / "dashboards" / "mcpops.json"

# PromQL words that look like identifiers but are not metric names.
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_VARIABLES = re.compile(r"\$\{?\w+\}?")
_IDENTIFIER = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, labels and keywords left out)."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    text = _VARIABLES.sub("", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def rule_exprs() -> dict[str, str]:
    """alert (or record) name -> expression, from the rules file."""
    doc = yaml.safe_load(RULES.read_text())
    return {
        rule.get("alert") or rule["record"]: rule["expr"]
        for group in doc["groups"]
        for rule in group["rules"]
    }


def dashboard_panels() -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = json.loads(DASHBOARD.read_text())["panels"]
    return panels


def dashboard_exprs() -> dict[str, str]:
    """ "panel title / refId" -> expression, for every query of the dashboard."""
    return {
        f"{p['title']} / {t['refId']}": t["expr"]
        for p in dashboard_panels()
        for t in p.get("targets", [])
    }


def used_metric_names() -> dict[str, set[str]]:
    """metric name -> where it is used (alerts and dashboard queries)."""
    out: dict[str, set[str]] = {}
    for where, expr in {**rule_exprs(), **dashboard_exprs()}.items():
        for name in metric_names(expr):
            out.setdefault(name, set()).add(where)
    return out


def exported_series_names(exposition: str) -> set[str]:
    """Series names a Prometheus text exposition provides, from its # TYPE lines.

    prometheus_client names a counter family `<name>_total` in # TYPE (its samples too);
    histograms export `_bucket`, `_sum` and `_count` series under the family name.
    """
    names: set[str] = set()
    for line in exposition.splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[:2] != ["#", "TYPE"]:
            continue
        family, kind = parts[2], parts[3]
        if kind == "counter":
            names |= {family, family if family.endswith("_total") else f"{family}_total"}
        elif kind == "histogram":
            names |= {f"{family}_bucket", f"{family}_sum", f"{family}_count"}
        elif kind == "summary":
            names |= {family, f"{family}_sum", f"{family}_count"}
        else:
            names.add(family)
    return names


def proxy_series_names() -> set[str]:
    """The in-pod proxy's series, from its generated reference (mcpops-proxy metrics-doc)."""
    names: set[str] = set()
    for line in (REPO / "docs/reference/proxy/metrics.md").read_text().splitlines():
        cells = [c.strip(" `") for c in line.split("|")]
        if len(cells) > 3 and cells[1].startswith("mcpops_proxy_"):
            family, kind = cells[1], cells[2]
            if kind == "histogram":
                names |= {f"{family}_bucket", f"{family}_sum", f"{family}_count"}
            else:
                names.add(family)
    return names
