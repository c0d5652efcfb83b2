"""Kubernetes Events: every decision a person would ask about is one."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from mcpops import metrics
from mcpops.machinery.client import ApiError, Client, UnreachableError
from mcpops.objects.bodies import Body
from mcpops.objects.timestamps import fmt_time
from mcpops_common.names import REPORTING_COMPONENT

log = structlog.stdlib.get_logger("mcpops.machinery.events")


async def post(client: Client, parent: Body, type_: str, reason: str, message: str) -> None:
    meta = parent["metadata"]
    now = fmt_time(datetime.now(UTC))
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": parent["apiVersion"],
            "kind": parent["kind"],
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
        },
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": "mcpops"},
        "reportingComponent": REPORTING_COMPONENT,
        "reportingInstance": "mcpops",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    metrics.EVENTS_POSTED.labels(parent["kind"], reason).inc()
    log.info(
        "event",
        kind=parent["kind"],
        namespace=meta["namespace"],
        name=meta["name"],
        uid=meta["uid"],
        type=type_,
        reason=reason,
        message=message,
    )
    try:
        await client.create(event)
    except (ApiError, UnreachableError) as exc:
        # An Event that cannot be posted (namespace terminating, quota) must not
        # fail the reconcile that made the decision.
        log.warning("event not posted", reason=reason, error=str(exc))
