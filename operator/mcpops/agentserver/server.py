"""`mcpops mcp-server`: OptimizationJobs as MCP tools, in one namespace.

    mcpops mcp-server --namespace optimization [--listen 0.0.0.0:8090] [--stdio]

Tools (see `tools`): submit_model, get_status, get_solution, explain, run_scenarios,
cancel, list_jobs. The HTTP listener serves MCP (Streamable HTTP) on /mcp, and /metrics
(Prometheus) and /healthz on the same port. It logs in as the pod's ServiceAccount (else
the kubeconfig), the way the operator does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import structlog
from mcp.server.mcpserver import MCPServer

from mcpops.agentserver import jobs
from mcpops.agentserver.kube import Jobs
from mcpops.agentserver.tools import Tools, build_server
from mcpops.machinery.client import Client
from mcpops.machinery.login import login
from mcpops_common import logs

log = structlog.stdlib.get_logger("mcpops.agentserver")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mcpops mcp-server", description=__doc__.splitlines()[0])
    p.add_argument("--namespace", required=True, help="the one namespace it creates jobs in")
    p.add_argument("--listen", default="0.0.0.0:8090", help="host:port of /mcp and /metrics")
    p.add_argument("--stdio", action="store_true", help="serve MCP on stdin/stdout instead")
    p.add_argument("--max-time-limit", type=float, default=3600.0, help="seconds per solve")
    p.add_argument("--max-threads", type=int, default=4)
    p.add_argument("--max-scenarios", type=int, default=200)
    p.add_argument(
        "--ttl-seconds-after-finished",
        type=int,
        default=3600,
        help="solver Jobs (not the OptimizationJobs) are deleted this long after they end",
    )
    p.add_argument(
        "--pod-annotation",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an annotation on every solver pod it starts (repeatable)",
    )
    p.add_argument("--log-level", default="INFO")
    return p


def limits_from(args: argparse.Namespace) -> jobs.Limits:
    annotations = {}
    for item in args.pod_annotation:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--pod-annotation {item!r}: want KEY=VALUE")
        annotations[key] = value
    return jobs.Limits(
        namespace=args.namespace,
        max_time_limit_seconds=args.max_time_limit,
        max_threads=args.max_threads,
        max_scenarios=args.max_scenarios,
        ttl_seconds_after_finished=args.ttl_seconds_after_finished,
        pod_annotations=annotations,
    )


def http_app(server: MCPServer, host: str) -> Any:
    """The MCP endpoint /mcp plus /metrics and /healthz on one port."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    # Stateless: every call reads the API server, so any replica can answer any request.
    app = server.streamable_http_app(host=host, stateless_http=True)

    async def metrics_endpoint(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    app.router.routes.append(Route("/metrics", metrics_endpoint))
    app.router.routes.append(Route("/healthz", healthz))
    return app


@contextlib.asynccontextmanager
async def _client() -> AsyncIterator[Client]:
    client = Client(login=login)
    try:
        yield client
    finally:
        await client.close()


async def _serve(args: argparse.Namespace, limits: jobs.Limits) -> None:
    async with _client() as client:
        server = build_server(Tools(Jobs(client, limits.namespace), limits))
        log.info("serving", namespace=limits.namespace, listen=args.listen, stdio=args.stdio)
        if args.stdio:
            await server.run_stdio_async()
            return
        import uvicorn

        host, _, port = args.listen.rpartition(":")
        config = uvicorn.Config(
            http_app(server, host or "0.0.0.0"),  # noqa: S104 - a pod listens on all
            host=host or "0.0.0.0",  # noqa: S104
            port=int(port),
            log_level="warning",
            lifespan="on",
        )
        await uvicorn.Server(config).serve()


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    logs.configure(args.log_level)
    asyncio.run(_serve(args, limits_from(args)))
    return 0
