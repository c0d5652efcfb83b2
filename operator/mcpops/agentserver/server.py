"""`mcpops mcp-server`: OptimizationJobs as MCP tools, in one namespace.

    mcpops mcp-server --namespace optimization [--listen 0.0.0.0:8090] [--stdio]

Tools: submit_model, get_status, get_solution, explain, run_scenarios, cancel,
list_jobs. A solve is a submit/poll pair: submit_model returns the job's name at once,
get_status (optionally waiting up to wait_seconds) says when it is done. The MCP Tasks
extension (protocol 2026-07-28) is not offered: the `mcp` SDK this image ships (2.3)
has the extension hook but no Tasks implementation, and every client can poll.

The HTTP listener also serves /metrics (Prometheus) and /healthz.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import string
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Literal

import structlog
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from mcpops import __version__, metrics
from mcpops.agentserver import explain as explaining
from mcpops.agentserver import jobs
from mcpops.agentserver.kube import Jobs
from mcpops.machinery.client import ApiError, Client
from mcpops.machinery.login import login
from mcpops_common import logs

log = structlog.stdlib.get_logger("mcpops.agentserver")

MAX_WAIT_SECONDS = 30.0  # get_status waits at most this long per call (then poll again)
POLL_SECONDS = 1.0
_ALPHABET = string.ascii_lowercase + string.digits

INSTRUCTIONS = """\
Solve linear and mixed-integer optimization problems as Kubernetes OptimizationJobs.
submit_model takes a model {sense, variables, constraints, objective} (or an MPS/LP file
as text) and returns a job name at once; poll get_status(name, wait_seconds=...) until
done is true; then get_solution and explain (binding constraints, slack, duals). For
what-if analysis, run_scenarios solves a finished job's problem under overrides or
sampled parameters and get_status then shows objective percentiles (p5, p50, p95).
cancel stops a solve and keeps its best solution so far."""


def _suffix() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(5))


class Tools:
    """The tools, each one call of pure logic (jobs, explain) and the API (kube)."""

    def __init__(self, kube: Jobs, limits: jobs.Limits) -> None:
        self.kube = kube
        self.limits = limits

    async def _job(self, name: str) -> dict[str, Any]:
        job = await self.kube.get(jobs.check_name(name))
        if job is None:
            raise ToolError(f"no OptimizationJob {name!r} in namespace {self.kube.namespace}")
        return job

    async def _create(self, build: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        """Create the job `build(name)` makes, under a fresh name (again on a clash)."""
        for _ in range(3):
            manifest = build(jobs.job_name(self.limits.name_prefix, _suffix()))
            try:
                return await self.kube.create(manifest)
            except ApiError as exc:
                if exc.status != 409:
                    raise
        raise ToolError("could not find a free job name; try again")

    async def submit_model(self, **kwargs: Any) -> dict[str, Any]:
        made: dict[str, jobs.Submission] = {}

        def build(name: str) -> dict[str, Any]:
            made["s"] = jobs.submission(name, self.limits, **kwargs)
            return made["s"].job

        created = await self._create(build)
        sub = made["s"]
        if sub.problem_text is not None and sub.problem_key is not None:
            cm = jobs.problem_configmap(
                created, sub.problem_text, sub.problem_key, self.kube.namespace
            )
            await self.kube.client.create(cm)
        return jobs.status_view(created)

    async def get_status(self, name: str, wait_seconds: float) -> dict[str, Any]:
        deadline = time.monotonic() + min(max(wait_seconds, 0.0), MAX_WAIT_SECONDS)
        while True:
            view = jobs.status_view(await self._job(name))
            if view["done"] or time.monotonic() >= deadline:
                return view
            await asyncio.sleep(POLL_SECONDS)

    async def get_solution(self, name: str, max_values: int) -> dict[str, Any]:
        job = await self._job(name)
        view = jobs.status_view(job)
        solution = await self.kube.solution(jobs.result_names(job))
        out: dict[str, Any] = {
            k: view.get(k) for k in ("name", "phase", "solverStatus", "objective", "bound", "gap")
        }
        if solution is None:
            out["solution"] = None
            out["next"] = view["next"]
            return out
        for key in ("values", "duals", "reducedCosts"):
            section = solution.get(key)
            if section is not None and len(section) > max_values:
                out.setdefault("truncated", []).append(key)
                section = dict(list(section.items())[:max_values])
            out[key] = section
        return out

    async def explain(self, name: str, max_items: int) -> dict[str, Any]:
        job = await self._job(name)
        solution = await self.kube.solution(jobs.result_names(job))
        return explaining.explain(job, solution, max_items=max_items)

    async def run_scenarios(
        self,
        base: str,
        scenarios: list[dict[str, Any]] | None,
        sampling: dict[str, Any] | None,
        parallelism: int | None,
        time_limit_seconds: float | None,
    ) -> dict[str, Any]:
        base_job = await self._job(base)
        created = await self._create(
            lambda name: jobs.sweep(
                name,
                self.limits,
                base_job,
                scenarios=scenarios,
                sampling=sampling,
                parallelism=parallelism,
                time_limit_seconds=time_limit_seconds,
            )
        )
        return jobs.status_view(created)

    async def cancel(self, name: str) -> dict[str, Any]:
        job = await self._job(name)
        if not jobs.submitted_here(job):
            raise ToolError(
                f"{name} was not submitted through this server; cancel it with "
                "`kubectl mcpops cancel` if you own it"
            )
        if jobs.status_view(job)["done"]:
            return jobs.status_view(job) | {"note": "already finished; nothing to cancel"}
        return jobs.status_view(await self.kube.patch(name, jobs.cancel_patch()))

    async def list_jobs(self) -> dict[str, Any]:
        selector = f"{jobs.SUBMITTED_BY_LABEL}={jobs.SUBMITTED_BY}"
        items = await self.kube.list_jobs(selector)
        views = [jobs.status_view(j) for j in items]
        keep = ("name", "phase", "solverStatus", "objective", "done")
        return {"jobs": [{k: v.get(k) for k in keep} for v in views]}


async def _observed(tool: str, call: Awaitable[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """Run one tool call with its metrics and one log line; API failures become tool errors
    the model can read (a refused job says which field and why)."""
    start = time.monotonic()
    outcome = "ok"
    try:
        result = await call
    except jobs.ToolInputError as exc:
        outcome = "refused"
        raise ToolError(str(exc)) from exc
    except ToolError:
        outcome = "refused"
        raise
    except ApiError as exc:
        outcome = "forbidden" if exc.forbidden else "api-error"
        raise ToolError(f"the Kubernetes API refused it: {exc.status} {exc.detail}") from exc
    except Exception:
        outcome = "error"
        raise
    finally:
        seconds = time.monotonic() - start
        metrics.AGENT_TOOL_CALLS.labels(tool, outcome).inc()
        metrics.AGENT_TOOL_SECONDS.labels(tool).observe(seconds)
        log.info("tool call", tool=tool, outcome=outcome, seconds=round(seconds, 3), **fields)
    return result


def build_server(tools: Tools) -> MCPServer:
    server = MCPServer("mcpops-optimization", version=__version__, instructions=INSTRUCTIONS)

    @server.tool()
    async def submit_model(
        model: dict[str, Any] | None = None,
        text: str | None = None,
        text_format: Literal["auto", "mps", "lp", "lp-solve"] = "auto",
        solver: str = "auto",
        time_limit_seconds: float = 60.0,
        relative_gap: float | None = None,
        threads: int | None = None,
        warm_start_from: str | None = None,
    ) -> dict[str, Any]:
        """Submit an optimization problem; returns its job name at once (then get_status).

        model: {"sense": "minimize"|"maximize", "variables": [{"name", "lowerBound",
        "upperBound", "type": "continuous"|"integer"|"binary"}], "constraints": [{"name",
        "coefficients": {var: coef}, "lowerBound", "upperBound"}], "objective":
        {"coefficients": {var: coef}, "constant"}}; an omitted bound is no bound.
        Or text: an MPS or CPLEX LP file. solver: auto, GLOP, PDLP, CLP, CBC, SCIP, HIGHS,
        CP-SAT or BOP. warm_start_from: an earlier job whose solution seeds this solve.
        """
        return await _observed(
            "submit_model",
            tools.submit_model(
                model=model,
                text=text,
                text_format=text_format,
                solver=solver,
                time_limit_seconds=time_limit_seconds,
                relative_gap=relative_gap,
                threads=threads,
                warm_start_from=warm_start_from,
            ),
        )

    @server.tool()
    async def get_status(name: str, wait_seconds: float = 0.0) -> dict[str, Any]:
        """Phase (Queued, Pending, Running, Succeeded, Failed, Cancelled), solver status,
        objective, bound, gap, progress while running, a sweep's percentile summary.
        wait_seconds (at most 30): wait until the job is done or that time has passed."""
        return await _observed("get_status", tools.get_status(name, wait_seconds), job=name)

    @server.tool()
    async def get_solution(name: str, max_values: int = 1000) -> dict[str, Any]:
        """Variable values and, for an LP solved to optimality by GLOP, PDLP, CLP or HIGHS,
        duals and reduced costs (at most max_values entries each)."""
        return await _observed("get_solution", tools.get_solution(name, max_values), job=name)

    @server.tool()
    async def explain(name: str, max_items: int = 50) -> dict[str, Any]:
        """Why the solution is what it is: binding constraints, each constraint's slack and
        dual, the variable bounds that bind, reduced costs; from the solver's own result."""
        return await _observed("explain", tools.explain(name, max_items), job=name)

    @server.tool()
    async def run_scenarios(
        base: str,
        scenarios: list[dict[str, Any]] | None = None,
        sampling: dict[str, Any] | None = None,
        parallelism: int | None = None,
        time_limit_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Solve the problem of job `base` once per scenario; returns the sweep's job name
        (then get_status: status.scenarios has counts, best, worst, mean, p5, p50, p95).

        scenarios: [{"name", "rhs": {constraint: value}, "variableBounds": {var:
        {"lowerBound", "upperBound"}}, "constraintBounds": {...}, "objectiveCoefficients":
        {var: coef}}]. sampling: {"samples": N, "seed": S, "parameters": [{"target": "rhs",
        "constraint": name, "distribution": "uniform", "low", "high"}]}."""
        return await _observed(
            "run_scenarios",
            tools.run_scenarios(base, scenarios, sampling, parallelism, time_limit_seconds),
            job=base,
        )

    @server.tool()
    async def cancel(name: str) -> dict[str, Any]:
        """Stop a running solve; its best solution so far is kept (phase Cancelled)."""
        return await _observed("cancel", tools.cancel(name), job=name)

    @server.tool()
    async def list_jobs() -> dict[str, Any]:
        """The jobs submitted through this server in its namespace, with phase and objective."""
        return await _observed("list_jobs", tools.list_jobs())

    return server


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

    app = server.streamable_http_app(host=host)

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
