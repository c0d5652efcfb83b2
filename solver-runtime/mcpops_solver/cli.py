"""``mcpops-solver``: what runs in an OptimizationJob's solver pod.

Usage::

    mcpops-solver [options] PROBLEM

PROBLEM is a file (``-`` for standard input) in the model form (JSON/YAML),
MPS or LP, plain or gzipped. Options:

  --format FMT          json, yaml, mps, lp (CPLEX LP) or lp-solve; default: detected
  --solver NAME         auto (default), GLOP, PDLP, CLP, CBC, SCIP, HIGHS, CP-SAT, BOP
  --time-limit S        wall-clock limit of the solve in seconds
  --relative-gap G      MIP relative gap (default 1e-4)
  --absolute-gap A      MIP absolute gap: also stop once |objective - bound| <= A (default 0)
  --threads N           solver threads (default: the pod's CPU limit, else its CPUs)
  --seed N              solver random seed
  --deterministic       reproducible run: the seed (default 0) and each solver's
                        deterministic mode; only a time limit can still make runs differ
  --warm-start FILE     seed the solve with an earlier solution.json (repeat for the
                        parts of a large one): a MIP start for SCIP, CP-SAT, HiGHS, BOP
  --progress-interval S report progress at most every S seconds (default 5)
  --race                with --solver auto and more than one thread: run auto's two
                        best candidates at once (separate processes, threads split
                        between them), keep the first proven answer, stop the other
  --scenarios FILE      sweep: solve scenario --scenario-index / $JOB_COMPLETION_INDEX
  --scenario-index I    which scenario (overrides $JOB_COMPLETION_INDEX)
  --name NAME           result name: ConfigMaps <name>-result[-<i>] ($MCPOPS_RESULT_NAME)
  --namespace NS        namespace of the ConfigMaps ($POD_NAMESPACE)
  --output-dir DIR      write the ConfigMap manifests as DIR/<name>.json, not to the API
  --termination-log P   where to write the short JSON outcome
                        (default /dev/termination-log when it exists and is writable)
  --print-solution      also print solution.json to standard output
  --log-level LEVEL     DEBUG, INFO (default), WARNING, ERROR

While it runs (a single solve, not a sweep), the best objective, bound and gap so
far are logged as ``progress`` lines and written to the ConfigMap
``<name>-progress`` (``progress.json``), at most every --progress-interval
seconds and only when they changed. SIGTERM cancels: the solver is interrupted
(or, for a backend that cannot be, abandoned) and the best solution found so far
is recorded with ``cancelled: true`` (status FEASIBLE, or NOT_SOLVED without
one); the exit code is 0.

Where results go: with ``--output-dir``, to files; else, when a result name is
known ($MCPOPS_RESULT_NAME or --name), to ConfigMaps through the Kubernetes
API with the pod's service account (this needs $MCPOPS_OWNER_UID); else
nowhere (a local run: the summary is printed). The summary JSON is always
printed as the last line on standard output; logs are JSON lines on standard
error.

Environment (set by the operator in the solver pod):

  MCPOPS_RESULT_NAME        base name of the result ConfigMaps (the OptimizationJob's name)
  MCPOPS_OWNER_UID          uid of the owner (required to write to the API)
  MCPOPS_OWNER_NAME         owner name (default: MCPOPS_RESULT_NAME)
  MCPOPS_OWNER_KIND         owner kind (default: OptimizationJob)
  MCPOPS_OWNER_API_VERSION  owner apiVersion (default: mcpops.dev/v1alpha1)
  POD_NAMESPACE             namespace (default: the service account's namespace)
  JOB_COMPLETION_INDEX      scenario index in an Indexed Job (with --scenarios)
  MCPOPS_LOG_LEVEL          default log level

Exit codes:

  0  a result was recorded: OPTIMAL, FEASIBLE, INFEASIBLE, UNBOUNDED,
     INFEASIBLE_OR_UNBOUNDED or NOT_SOLVED (time limit without a solution)
  1  internal error (a bug)
  2  usage: bad options or environment
  3  malformed input: unreadable or invalid problem or scenario file, unknown
     scenario index or name in an override
  4  the problem is not supported by the chosen backend (e.g. GLOP on a MIP)
  5  the solver failed (ABNORMAL)
  6  the results could not be written (API error, unwritable directory)

Except for usage errors, a failed run still writes a summary (status ERROR or
ABNORMAL, with errorKind and message) to its ConfigMap when it can, and always
to the termination message.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from mcpops_common.names import API_VERSION

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_MALFORMED = 3
EXIT_UNSUPPORTED = 4
EXIT_SOLVER = 5
EXIT_WRITE = 6

ERROR_KINDS = {
    EXIT_USAGE: "usage",
    EXIT_MALFORMED: "malformed-input",
    EXIT_UNSUPPORTED: "unsupported",
    EXIT_SOLVER: "solver-failure",
    EXIT_WRITE: "write-failed",
    EXIT_INTERNAL: "internal",
}

DEFAULT_TERMINATION_LOG = "/dev/termination-log"


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {text!r}")
    return value


def _gap(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text!r}")
    return value


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = _nonneg_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from mcpops_solver.readers import FORMATS

    p = _Parser(
        prog="mcpops-solver",
        description="Solve an LP/MIP and store the result for an mcpops OptimizationJob.",
        epilog="Exit codes: 0 result recorded, 1 internal error, 2 usage, 3 malformed input, "
        "4 unsupported by the backend, 5 solver failure, 6 results not written.",
    )
    p.add_argument("problem", help="problem file (JSON/YAML model, MPS, LP; .gz ok; - = stdin)")
    p.add_argument("--format", choices=FORMATS, help="input format (default: detected)")
    p.add_argument("--solver", default="auto", help="auto or a backend name (default auto)")
    p.add_argument("--time-limit", type=_positive_float, metavar="S")
    p.add_argument("--relative-gap", type=_gap, metavar="G")
    p.add_argument("--absolute-gap", type=_nonneg_float, metavar="A")
    p.add_argument("--threads", type=_positive_int, metavar="N")
    p.add_argument("--seed", type=_nonneg_int, metavar="N")
    p.add_argument("--deterministic", action="store_true")
    p.add_argument(
        "--warm-start",
        action="append",
        metavar="FILE",
        help="an earlier solution.json to start from (repeatable: solution parts)",
    )
    p.add_argument("--progress-interval", type=_positive_float, default=5.0, metavar="S")
    p.add_argument("--race", action="store_true", help="race auto's two best backends")
    p.add_argument("--scenarios", metavar="FILE", help="scenario set (JSON/YAML)")
    p.add_argument("--scenario-index", type=_nonneg_int, metavar="I")
    p.add_argument("--name", help="result name (default $MCPOPS_RESULT_NAME)")
    p.add_argument("--namespace", help="namespace (default $POD_NAMESPACE)")
    p.add_argument("--output-dir", metavar="DIR", help="write ConfigMap manifests to DIR")
    p.add_argument("--termination-log", metavar="PATH")
    p.add_argument("--print-solution", action="store_true")
    p.add_argument("--log-level", default=os.environ.get("MCPOPS_LOG_LEVEL", "INFO"))
    return p


def _process_start_time() -> float | None:
    """Wall-clock time at which this process started (Linux), for overhead accounting."""
    try:
        stat = Path("/proc/self/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        start_ticks = int(fields[19])
        ticks = os.sysconf("SC_CLK_TCK")
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return time.time() - uptime + start_ticks / ticks
    except (OSError, ValueError, IndexError):
        return None


class Run:
    """State of one invocation, so that every exit path can report the same way."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.env = os.environ
        self.name: str | None = args.name or self.env.get("MCPOPS_RESULT_NAME") or None
        self.namespace: str | None = args.namespace or self.env.get("POD_NAMESPACE") or None
        self.scenario_index: int | None = None
        self.scenario_name: str | None = None
        self.configmaps: list[str] = []
        self.parts = 0
        self.part_names: list[str] = []
        self.solution_stored = True
        self.timings: dict[str, float] = {}
        self.process_started: float | None = None
        self.abandoned = False  # a cancelled native solve still runs: exit hard

    def report_progress(self, snapshot: dict[str, Any], solver: str, sense: str) -> None:
        """Write the progress ConfigMap (to the API or a file). Raises on failure."""
        from datetime import UTC, datetime

        from mcpops_common.results import build_progress_configmap
        from mcpops_solver.kube import put_configmap, write_configmap_files

        dest = self.destination()
        if dest == "none" or self.scenario_index is not None:
            return
        doc = dict(snapshot, solver=solver, sense=sense)
        doc["updatedAt"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        manifest = build_progress_configmap(
            doc,
            name=self.name or "problem",
            namespace=self.namespace or "default",
            owner=self.owner(),
        )
        if dest == "files":
            write_configmap_files([manifest], self.args.output_dir)
        else:
            put_configmap(manifest, self.namespace or "default")

    # -- destinations ---------------------------------------------------------

    def owner(self) -> dict[str, str] | None:
        uid = self.env.get("MCPOPS_OWNER_UID", "")
        if not uid:
            return None
        return {
            "apiVersion": self.env.get("MCPOPS_OWNER_API_VERSION", API_VERSION),
            "kind": self.env.get("MCPOPS_OWNER_KIND", "OptimizationJob"),
            "name": self.env.get("MCPOPS_OWNER_NAME", "") or (self.name or ""),
            "uid": uid,
        }

    def destination(self) -> str:
        if self.args.output_dir:
            return "files"
        if self.name:
            return "api"
        return "none"

    def check_destination(self) -> None:
        dest = self.destination()
        if dest == "api":
            if self.owner() is None:
                raise UsageError(
                    "writing results to the Kubernetes API needs MCPOPS_OWNER_UID (the uid of "
                    "the OptimizationJob); use --output-dir to write files instead"
                )
            if not self.namespace:
                from mcpops_solver.kube import in_cluster_namespace

                self.namespace = in_cluster_namespace()
            if not self.namespace:
                raise UsageError("no namespace: set POD_NAMESPACE or --namespace")

    def store(self, result: Any) -> None:
        """Build and write the result ConfigMaps. Raises kube.WriteError."""
        from mcpops_common.results import build_result_configmaps
        from mcpops_solver.kube import write_configmap_files, write_configmaps

        dest = self.destination()
        if dest == "none":
            return
        name = self.name or _dns_name(result.problem_name or "problem")
        namespace = self.namespace or "default"
        manifests = build_result_configmaps(
            result,
            name=name,
            namespace=namespace,
            owner=self.owner(),
            index=self.scenario_index,
        )
        summary = json.loads(manifests[0]["data"]["summary.json"])
        self.parts = int(summary.get("parts", 0))
        self.part_names = list(summary.get("solutionParts", []))
        self.solution_stored = bool(summary.get("solutionStored", True))
        if dest == "files":
            write_configmap_files(manifests, self.args.output_dir)
        else:
            write_configmaps(manifests, namespace)
        self.configmaps = [m["metadata"]["name"] for m in manifests]

    def termination_log_path(self) -> str | None:
        if self.args.termination_log:
            return str(self.args.termination_log)
        path = DEFAULT_TERMINATION_LOG
        if os.path.exists(path) and os.access(path, os.W_OK):
            return path
        return None


def _dns_name(text: str) -> str:
    import re

    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:200]
    return name or "problem"


def _write_termination(run: Run | None, result: Any, code: int, log: Any) -> None:
    from mcpops_common.results import termination_message

    if run is None:
        return
    path = run.termination_log_path()
    if path is None:
        return
    text = termination_message(
        result,
        exit_code=code,
        configmaps=run.configmaps,
        parts=run.parts,
        solution_stored=run.solution_stored,
    )
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        log.warning("could not write the termination message", path=path, error=str(exc))


def main(argv: Sequence[str] | None = None) -> int:
    entered = time.time()
    started = _process_start_time()
    from mcpops_solver import logs

    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except UsageError as exc:
        print(f"mcpops-solver: {exc}\n\n{parser.format_usage()}", file=sys.stderr)
        return EXIT_USAGE
    logs.configure(
        args.log_level
        if args.log_level.upper() in {"DEBUG", "INFO", "WARNING", "ERROR"}
        else "INFO"
    )
    log = logs.get_logger()
    run = Run(args)
    logs.bind(job=run.name, namespace=run.namespace)
    run.process_started = started
    if started is not None:
        run.timings["startup"] = max(0.0, entered - started)
    try:
        code = _main(run, log)
        if run.abandoned:
            # The cancelled native solve still holds its thread: the result is written,
            # so leave now rather than wait for it.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        return code
    except Exception as exc:  # a bug: report it as such, with a traceback in the log
        log.exception("internal error")
        from mcpops_common.results import SolveResult

        result = SolveResult(
            status="ERROR",
            error_kind="internal",
            message=f"internal error: {type(exc).__name__}: {exc}",
            scenario_index=run.scenario_index,
        )
        _write_termination(run, result, EXIT_INTERNAL, log)
        _emit(json.dumps({"status": "ERROR", "errorKind": "internal", "message": result.message}))
        return EXIT_INTERNAL


class _RunError(Exception):
    """A run that ends before a result: the exit code, and what to report."""

    def __init__(self, code: int, message: str, status: str = "ERROR") -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class _Progress:
    """What a failure report can already name."""

    problem_name: str = ""
    solver_name: str = ""
    started: float = field(default_factory=time.time)


def _main(run: Run, log: Any) -> int:
    progress = _Progress()
    try:
        solver = _options(run, progress)
        problem = _read(run, progress, log)
        result = _solve(run, progress, problem, solver, log)
    except _RunError as stop:
        return _fail(run, progress, stop, log)
    return _store(run, result, log)


def _fail(run: Run, progress: _Progress, stop: _RunError, log: Any) -> int:
    from mcpops_common.results import SolveResult

    code, message, status = stop.code, stop.message, stop.status
    log.error("run failed", exit_code=code, error_kind=ERROR_KINDS[code], error=message)
    result = SolveResult(
        status=status,
        solver=progress.solver_name,
        error_kind=ERROR_KINDS[code],
        message=message,
        problem_name=progress.problem_name,
        scenario_index=run.scenario_index,
        scenario_name=run.scenario_name,
        timings=run.timings,
    )
    if code != EXIT_USAGE:
        try:
            run.store(result)
        except Exception as exc:
            log.warning("could not store the failure summary", error=str(exc))
    _write_termination(run, result, code, log)
    _emit(json.dumps({"status": status, "errorKind": ERROR_KINDS[code], "message": message}))
    return code


def _options(run: Run, progress: _Progress) -> str:
    """The solver asked for, and the scenario index; a usage error stops the run."""
    from mcpops_solver import backends

    args = run.args
    try:
        solver = args.solver
        if solver != "auto":
            solver = backends.canonical_backend(solver)
        progress.solver_name = "" if solver == "auto" else solver
        if args.scenarios:
            run.scenario_index = _scenario_index(args.scenario_index)
            logs_bind(scenario=run.scenario_index)
        elif args.scenario_index is not None:
            raise UsageError("--scenario-index needs --scenarios")
        run.check_destination()
    except (UsageError, ValueError) as exc:
        raise _RunError(EXIT_USAGE, str(exc)) from None
    return str(solver)


def _scenario_index(given: int | None) -> int:
    if given is not None:
        return given
    raw = os.environ.get("JOB_COMPLETION_INDEX")
    if raw is None:
        raise UsageError("--scenarios needs --scenario-index or JOB_COMPLETION_INDEX")
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"JOB_COMPLETION_INDEX is not an integer: {raw!r}") from None


def _read(run: Run, progress: _Progress, log: Any) -> Any:
    """The problem, with this run's scenario applied; malformed input stops the run."""
    from mcpops_common import scenarios
    from mcpops_common.problem import ProblemError
    from mcpops_solver import readers

    args = run.args
    try:
        problem, fmt = readers.read_problem(args.problem, args.format)
        progress.problem_name = problem.name
        if args.scenarios:
            assert run.scenario_index is not None
            sset = scenarios.load_scenario_set(args.scenarios)
            override = scenarios.scenario_at(sset, run.scenario_index)
            run.scenario_name = override.name
            problem = problem.apply_override(override)
    except (ProblemError, scenarios.ScenarioError) as exc:
        raise _RunError(EXIT_MALFORMED, str(exc)) from None
    run.timings["read"] = time.time() - progress.started
    stats = problem.stats()
    log.info(
        "problem loaded",
        problem=problem.name,
        format=fmt,
        kind=stats.kind(),
        **stats.as_counts(),
    )
    return problem


def _solve(run: Run, progress: _Progress, problem: Any, solver: str, log: Any) -> Any:
    """Choose the backend and solve; what the backend refuses or fails at stops the run."""
    from mcpops_solver import backends, runtime
    from mcpops_solver.running import solve_reporting

    args = run.args
    threads = args.threads or backends.default_threads()
    params = backends.SolveParams(
        time_limit=args.time_limit,
        relative_gap=args.relative_gap,
        absolute_gap=args.absolute_gap,
        threads=threads,
        seed=args.seed,
        deterministic=args.deterministic,
        hint=_warm_start(args.warm_start, log),
    )
    sense = "maximize" if problem.maximize else "minimize"
    try:
        backend, reason = runtime.choose_backend(problem, solver)
        progress.solver_name = backend
        log.info("solver chosen", solver=backend, reason=reason, threads=threads)
        t1 = time.time()
        run.timings["prepare"] = t1 - progress.started - run.timings["read"]
        if run.process_started is not None:
            run.timings["toSolverStart"] = t1 - run.process_started
        outcome = solve_reporting(
            problem,
            solver,
            params,
            backend=backend,
            reason=reason,
            log=log,
            interval=args.progress_interval,
            race=args.race,
            report=lambda snap: run.report_progress(snap, backend, sense),
        )
        result, run.abandoned = outcome.result, outcome.abandoned
        run.timings["solve"] = time.time() - t1
        if result.solver_choice and result.solver != backend:
            log.info("solver changed", solver=result.solver, reason=result.solver_reason)
    except backends.UnsupportedProblemError as exc:
        raise _RunError(EXIT_UNSUPPORTED, str(exc)) from None
    except backends.SolverError as exc:
        raise _RunError(EXIT_SOLVER, str(exc), status="ABNORMAL") from None
    result.scenario_index = run.scenario_index
    result.scenario_name = run.scenario_name
    for w in result.warnings:
        log.warning(w)
    log.info(
        "solve finished",
        status=result.status,
        objective=result.objective,
        bound=result.bound,
        gap=result.gap,
        seconds=round(result.seconds, 4),
        solver=result.solver,
        cancelled=result.cancelled,
    )
    return result


def _warm_start(paths: list[str] | None, log: Any) -> dict[str, float] | None:
    """The values of earlier solution.json files (the parts of one solution), by name."""
    if not paths:
        return None
    values: dict[str, float] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            part = doc["values"]
            values.update({str(k): float(v) for k, v in part.items() if v is not None})
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise _RunError(
                EXIT_MALFORMED, f"--warm-start {path}: not a readable solution.json: {exc}"
            ) from None
    log.info("warm start", values=len(values), files=len(paths))
    return values


def _store(run: Run, result: Any, log: Any) -> int:
    """Write the result (ConfigMaps or files), the termination message and the summary."""
    from mcpops_common.results import result_summary, solution_json
    from mcpops_solver.kube import WriteError

    code = EXIT_SOLVER if result.status == "ABNORMAL" else EXIT_OK
    if code == EXIT_SOLVER:
        result.error_kind = ERROR_KINDS[EXIT_SOLVER]
    t2 = time.time()
    result.timings = run.timings
    try:
        run.store(result)
    except (WriteError, ValueError) as exc:
        result.error_kind = ERROR_KINDS[EXIT_WRITE]
        result.message = f"{result.message}; the results could not be written: {exc}"
        log.error("results not written", error=str(exc))
        code = EXIT_WRITE
    run.timings["write"] = time.time() - t2
    if not run.solution_stored:
        log.warning("solution not stored: too large for the ConfigMap limit")
    if run.destination() == "none":
        log.info("results not stored: no --output-dir and no result name (local run)")
    _write_termination(run, result, code, log)
    summary = result_summary(result, parts=run.part_names, stored=run.solution_stored)
    summary["exitCode"] = code
    summary["configMaps"] = run.configmaps
    if run.args.print_solution:
        _emit(solution_json(result))
    _emit(json.dumps(summary))
    return code


def _emit(text: str) -> None:
    """Print a line to standard output; a closed pipe (``| head``) is not an error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def logs_bind(**values: Any) -> None:
    from mcpops_solver import logs

    logs.bind(**values)


if __name__ == "__main__":
    raise SystemExit(main())
