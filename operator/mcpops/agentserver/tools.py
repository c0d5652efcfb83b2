"""The agent server's tools: each one call of pure logic (`jobs`, `explain`) and of the API
(`kube`), with a metric and a log line per call. `server` runs them as a process.

A solve is a submit/poll pair: submit_model returns the job's name at once, get_status
(optionally waiting up to wait_seconds) says when it is done. The MCP Tasks extension
(protocol 2026-07-28) is not offered: the `mcp` SDK shipped here (2.3) has the extension
hook (`mcp.server.extension`) but no Tasks implementation, and every client can poll.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, cast

import structlog
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

from mcpops import __version__, metrics
from mcpops.agentserver import explain as explaining
from mcpops.agentserver import jobs
from mcpops.agentserver.kube import Jobs
from mcpops.api.optimizationjob import Sampling
from mcpops.machinery.client import ApiError
from mcpops_common.optmodel import OptimizationModel, ScenarioOverride, SolverName

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


def _plain(model: BaseModel | None) -> dict[str, Any] | None:
    """A model argument as the OptimizationJob's JSON has it (camelCase, no nulls)."""
    return None if model is None else model.model_dump(by_alias=True, exclude_none=True)


def build_server(tools: Tools) -> MCPServer:
    server = MCPServer("mcpops-optimization", version=__version__, instructions=INSTRUCTIONS)

    @server.tool()
    async def submit_model(
        model: OptimizationModel | None = None,
        text: str | None = None,
        text_format: Literal["auto", "mps", "lp", "lp-solve"] = "auto",
        solver: SolverName = "auto",
        time_limit_seconds: float = 60.0,
        relative_gap: float | None = None,
        threads: int | None = None,
        warm_start_from: str | None = None,
    ) -> dict[str, Any]:
        """Submit an optimization problem; returns its job name at once (then get_status).

        model: variables (with bounds and a type), linear constraints and an objective (an
        omitted bound is no bound); or text: an MPS or CPLEX LP file. solver: auto, GLOP,
        PDLP, CLP, CBC, SCIP, HIGHS, CP-SAT or BOP. warm_start_from: an earlier job whose
        solution seeds this solve (a MIP start).
        """
        return await _observed(
            "submit_model",
            tools.submit_model(
                model=_plain(model),
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
        scenarios: list[ScenarioOverride] | None = None,
        sampling: Sampling | None = None,
        parallelism: int | None = None,
        time_limit_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Solve the problem of job `base` once per scenario (overrides of right-hand
        sides, bounds and coefficients, and/or parameters sampled from distributions);
        returns the sweep's job name. get_status then shows status.scenarios: counts by
        outcome, best, worst, mean and the percentiles p5, p50, p95 of the objective."""
        return await _observed(
            "run_scenarios",
            tools.run_scenarios(
                base,
                None if scenarios is None else [_plain(s) or {} for s in scenarios],
                _plain(sampling),
                parallelism,
                time_limit_seconds,
            ),
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


def tool_reference() -> list[dict[str, Any]]:
    """Each tool's name, description and input schema, as tools/list gives them (for the
    generated reference; no API server is reached)."""
    offline = Tools(cast(Jobs, None), jobs.Limits(namespace="-"))
    server = build_server(offline)
    listed = asyncio.run(server.list_tools())
    return [
        {"name": t.name, "description": t.description or "", "inputSchema": t.input_schema}
        for t in listed
    ]
