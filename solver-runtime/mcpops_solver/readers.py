"""Read a problem from a file: the model form (JSON/YAML), MPS, or LP; plain or gzipped.

Formats
-------
``json`` / ``yaml``
    The project's model form (:class:`mcpops_common.optmodel.OptimizationModel`).
``mps``
    Free or fixed MPS, read by :mod:`mcpops_solver.mpsformat` as HiGHS reads it.
``lp``
    CPLEX LP format, the one written by CPLEX, Gurobi, HiGHS, SCIP, PuLP,
    Pyomo and OR-Tools' own exporter, read by :mod:`mcpops_solver.lpformat`.
``lp-solve``
    OR-Tools' own LP dialect (lp_solve-like: ``min: x + y; c1: x + y >= 2;``),
    read by OR-Tools.

Detection: a gzip stream is recognised by its magic bytes; the format then
comes from the file extension (``.json``, ``.yaml``/``.yml``, ``.mps``,
``.lp``, each optionally followed by ``.gz``), or, without a telling
extension (a mounted ConfigMap key, for instance), from the content. An
explicit format always wins.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from mcpops_common.optmodel import OptimizationModel
from mcpops_common.problem import Problem, ProblemError, from_model

__all__ = ["FORMATS", "ReadError", "detect_format", "load_text", "parse_problem", "read_problem"]

FORMATS = ("json", "yaml", "mps", "lp", "lp-solve")


class ReadError(ProblemError):
    """The input cannot be read or is not a valid problem."""


def load_text(path: str) -> str:
    """The file's text, gunzipped if it is gzip. ``-`` reads standard input."""
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise ReadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ReadError(f"{path} looks gzipped but does not decompress: {exc}") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # MPS files from old tools are sometimes Latin-1.
        return raw.decode("latin-1")


_MPS_SECTIONS = re.compile(r"^(NAME|ROWS|OBJSENSE|OBJSENSE\s+\w+)\b", re.MULTILINE)
_CPLEX_LP = re.compile(
    r"^\s*(minimi[sz]e|maximi[sz]e|minimum|maximum|min|max)\s*$|"
    r"^\s*(subject\s+to|such\s+that|st|s\.t\.)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_LPSOLVE = re.compile(r"^\s*(/\*.*?\*/\s*)?(max|min)(imi[sz]e)?\s*:", re.IGNORECASE | re.MULTILINE)


def detect_format(path: str, text: str) -> str:
    """Choose the format from the file name, then the content."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for ext, fmt in ((".json", "json"), (".yaml", "yaml"), (".yml", "yaml"), (".mps", "mps")):
        if name.endswith(ext):
            return fmt
    head = text.lstrip()[:4096]
    if name.endswith(".lp"):
        return "lp-solve" if _LPSOLVE.search(head) and ";" in head else "lp"
    if head.startswith(("{", "[")):
        return "json"
    if _MPS_SECTIONS.search(head):
        return "mps"
    if _LPSOLVE.search(head) and ";" in head:
        return "lp-solve"
    if _CPLEX_LP.search(head):
        return "lp"
    if re.search(r"^\s*variables\s*:", head, re.MULTILINE):
        return "yaml"
    raise ReadError(
        f"cannot tell the format of {path}: give --format (one of {', '.join(FORMATS)})"
    )


def read_problem(path: str, fmt: str | None = None) -> tuple[Problem, str]:
    """Read and validate a problem. Returns the problem and the format used."""
    text = load_text(path)
    fmt = fmt or detect_format(path, text)
    problem = parse_problem(text, fmt, source=path)
    if not problem.name:
        stem = Path(path).name
        for suffix in (".gz", ".json", ".yaml", ".yml", ".mps", ".lp"):
            stem = stem.removesuffix(suffix)
        problem.name = stem if path != "-" else "stdin"
    return problem, fmt


def parse_problem(text: str, fmt: str, *, source: str = "<text>") -> Problem:
    if fmt not in FORMATS:
        raise ReadError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt in {"json", "yaml"}:
        problem = from_model(parse_model(text, fmt, source=source))
    elif fmt == "mps":
        problem = _parse_mps(text, source)
    elif fmt == "lp":
        from mcpops_solver.lpformat import LpSyntaxError, parse_lp

        try:
            problem = parse_lp(text)
        except LpSyntaxError as exc:
            raise ReadError(f"{source}: not a valid LP file: {exc}") from exc
    else:
        problem = _parse_lpsolve(text, source)
    try:
        problem.validate()
    except ProblemError as exc:
        raise ReadError(f"{source}: {exc}") from exc
    return problem


def parse_model(text: str, fmt: str, *, source: str = "<text>") -> OptimizationModel:
    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ReadError(f"{source}: not valid {fmt.upper()}: {exc}") from exc
    if not isinstance(data, dict):
        raise ReadError(f"{source}: the model must be a {fmt.upper()} object (a mapping)")
    try:
        return OptimizationModel.model_validate(data)
    except ValidationError as exc:
        raise ReadError(f"{source}: invalid model: {_pydantic_message(exc)}") from exc


def _pydantic_message(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more error(s)")
    return "; ".join(parts)


def _parse_mps(text: str, source: str) -> Problem:
    from mcpops_solver.logs import get_logger
    from mcpops_solver.mpsformat import MpsError, parse_mps

    try:
        result = parse_mps(text)
    except MpsError as exc:
        raise ReadError(f"{source}: not a valid MPS file: {exc}") from exc
    log = get_logger("mcpops_solver.readers")
    for warning in result.warnings:
        log.warning("mps file read with a warning", source=source, warning=warning)
    return result.problem


def _parse_lpsolve(text: str, source: str) -> Problem:
    from mcpops_solver.backends import ortools_module

    model = ortools_module("ortools.linear_solver.python.model_builder").Model()
    if not model.import_from_lp_string(text):
        raise ReadError(
            f"{source}: not a valid lp-solve style LP file (OR-Tools' parser refused it; "
            "for CPLEX LP files use --format lp)"
        )
    mp = model.export_to_proto()
    p = Problem(name=mp.name, maximize=mp.maximize, objective_offset=mp.objective_offset)
    for i, var in enumerate(mp.variable):
        p.add_variable(
            var.name or f"x{i}",
            var.lower_bound,
            var.upper_bound,
            var.is_integer,
            var.objective_coefficient,
        )
    for r, con in enumerate(mp.constraint):
        p.add_constraint(
            con.name or f"c{r}",
            con.lower_bound,
            con.upper_bound,
            list(con.var_index),
            list(con.coefficient),
        )
    if mp.general_constraint:
        raise ReadError(f"{source}: general (non-linear) constraints are not supported")
    return p
