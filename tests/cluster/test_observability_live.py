"""The dashboard and the alerts query only metrics the running operator really exports."""

from __future__ import annotations

import urllib.request

from clusterkit import OperatorProcess
from observability import exported_series_names, proxy_series_names, used_metric_names


def test_every_metric_of_dashboard_and_alerts_is_in_a_live_scrape(
    operator: OperatorProcess,
) -> None:
    url = f"http://127.0.0.1:{operator.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as res:
        exposition = res.read().decode()
    exported = exported_series_names(exposition)
    used = used_metric_names()
    assert len(used) >= 20  # the dashboard and the rules were read
    # The Tools row reads the in-pod proxies' series: not the operator's to export.
    proxies = proxy_series_names()
    missing = {
        name: sorted(where)
        for name, where in used.items()
        if name not in exported and name not in proxies
    }
    assert not missing, f"used but not exported by the operator: {missing}"
