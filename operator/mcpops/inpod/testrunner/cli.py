"""`mcpops test-runner`: argument handling, files, exit codes and the watchdog.

Exit codes: 0 every check passed (or was skipped), 1 a check failed or the
suite timed out, 2 usage or suite error, 3 no MCP session could be
established. Results are written in every case where the suite could be read
(for 2, with outcome Error), to --results (full JSON) and to the termination
log (compact JSON, at most 4096 bytes).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import structlog
import yaml
from pydantic import ValidationError

from mcpops.api.testresult import Baseline, SuiteResult, termination_message
from mcpops.api.testsuite import TestSuite
from mcpops.inpod.testrunner.results import full_json, write_atomically, write_termination_log
from mcpops_common import logs

log = structlog.stdlib.get_logger(__name__)

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
DEFAULT_TERMINATION_LOG = Path("/dev/termination-log")
URL_ENV = "MCP_SERVER_URL"
SUITE_ENV = "MCPOPS_TEST_SUITE"
BASELINE_ENV = "MCPOPS_TEST_BASELINE"
TOKEN_ENV = "MCP_TOKEN_FILE"  # noqa: S105 (a variable name)
# The watchdog ends the process this long after the suite deadline if the
# runner has not finished by then (it never should).
WATCHDOG_GRACE_SECONDS = 15.0


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit; let main decide
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="mcpops test-runner",
        description="Run one MCP test suite against a server and report the results.",
    )
    p.add_argument("--url", help=f"MCP endpoint URL (default: ${URL_ENV})")
    p.add_argument("--transport", choices=["streamable-http", "sse"], default="streamable-http")
    p.add_argument(
        "--suite",
        help=f"file with one suite, JSON or YAML (default: the suite in ${SUITE_ENV})",
    )
    p.add_argument(
        "--baseline",
        help="the previous revision's results (results file or termination message, JSON), "
        f"for schema and latency regression checks (default: ${BASELINE_ENV}, if set)",
    )
    p.add_argument(
        "--token-file",
        default=os.environ.get(TOKEN_ENV) or None,
        help=f"send the bearer token in this file, read for every request (default: "
        f"${TOKEN_ENV}: the projected ServiceAccount token of an auth-required server)",
    )
    p.add_argument("--results", help="write the full results here (JSON)")
    p.add_argument(
        "--termination-log",
        help=f"write the compact results here (default: {DEFAULT_TERMINATION_LOG} when it "
        "exists and is writable)",
    )
    p.add_argument("--log-level", default=os.environ.get("MCPOPS_LOG_LEVEL", "INFO"))
    return p


def _load_document(text: str, what: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _UsageError(f"{what} is neither JSON nor YAML: {exc}") from None


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise _UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _load_suite(args: argparse.Namespace) -> TestSuite:
    if args.suite:
        text, what = _read(args.suite, "suite file"), f"suite file {args.suite}"
    elif os.environ.get(SUITE_ENV):
        text, what = os.environ[SUITE_ENV], f"${SUITE_ENV}"
    else:
        raise _UsageError(f"no suite: pass --suite FILE or set ${SUITE_ENV}")
    data = _load_document(text, what)
    try:
        return TestSuite.model_validate(data)
    except ValidationError as exc:
        raise _UsageError(f"{what} is not a valid test suite: {exc}") from None


def _load_baseline(args: argparse.Namespace) -> Baseline | None:
    if args.baseline:
        text, what = _read(args.baseline, "baseline file"), f"baseline file {args.baseline}"
    elif os.environ.get(BASELINE_ENV):
        text, what = os.environ[BASELINE_ENV], f"${BASELINE_ENV}"
    else:
        return None
    data = _load_document(text, what)
    if data is None:
        return None
    try:
        return Baseline.model_validate(data)
    except ValidationError as exc:
        raise _UsageError(f"{what} is not a suite result: {exc}") from None


def _termination_path(args: argparse.Namespace) -> Path | None:
    if args.termination_log:
        return Path(args.termination_log)
    default = DEFAULT_TERMINATION_LOG
    if default.is_file() and os.access(default, os.W_OK):
        return default
    return None


class _Reporter:
    """Writes the result once (the watchdog and the normal path may race)."""

    def __init__(self, results: Path | None, termination: Path | None) -> None:
        self.results = results
        self.termination = termination
        self._lock = threading.Lock()
        self._written = False

    def write(self, result: SuiteResult) -> None:
        with self._lock:
            if self._written:
                return
            self._written = True
            if self.results is not None:
                try:
                    write_atomically(self.results, full_json(result))
                except OSError as exc:
                    log.error(
                        "cannot write the results file", path=str(self.results), error=str(exc)
                    )
            if self.termination is not None:
                try:
                    write_termination_log(self.termination, termination_message(result))
                except OSError as exc:
                    log.error(
                        "cannot write the termination log",
                        path=str(self.termination),
                        error=str(exc),
                    )


def main(argv: list[str]) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"mcpops test-runner: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logs.configure(args.log_level)
    # One line per HTTP request is noise here; the checks say what happened.
    for noisy in ("httpx2", "httpcore2", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    reporter = _Reporter(Path(args.results) if args.results else None, _termination_path(args))

    def usage_error(message: str, suite: str = "unknown") -> int:
        log.error("cannot run the suite", error=message)
        reporter.write(SuiteResult(suite=suite[:253], outcome="Error", error=message[:4000]))
        return EXIT_USAGE

    url = args.url or os.environ.get(URL_ENV, "")
    loaded: TestSuite | None = None
    try:
        loaded = suite = _load_suite(args)
        if not url:
            raise _UsageError(f"no server: pass --url or set ${URL_ENV}")
        baseline = _load_baseline(args)
    except _UsageError as exc:
        return usage_error(str(exc), loaded.name if loaded else "unknown")

    from mcpops.inpod.testrunner.runner import Recorder, SuiteError, run_suite

    recorder = Recorder(suite.name)

    def watchdog() -> None:
        log.error("the runner did not finish in time; giving up")
        reporter.write(recorder.result(error="the test runner did not finish within its deadline"))
        os._exit(EXIT_FAILED)

    timer = threading.Timer(suite.timeout_seconds + WATCHDOG_GRACE_SECONDS, watchdog)
    timer.daemon = True
    timer.start()
    try:
        result = anyio.run(
            lambda: run_suite(
                url,
                suite,
                transport=args.transport,
                baseline=baseline,
                recorder=recorder,
                token_file=args.token_file,
            )
        )
    except SuiteError as exc:
        timer.cancel()
        return usage_error(str(exc), suite.name)
    timer.cancel()
    reporter.write(result)
    return result.exit_code
