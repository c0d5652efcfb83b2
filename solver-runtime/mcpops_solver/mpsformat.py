"""MPS reader (free and fixed format), in plain Python, read as HiGHS reads it.

HiGHS (its free-format reader, and its fixed-format reader for names with
spaces) is the reference: wherever a file is valid, this reader builds the
model HiGHS builds, checked file by file against ``highspy`` in
``tests/solver/test_solver_differential.py``. Conventions taken from HiGHS:

* Lines that are empty or start with ``*`` are comments. Anything after
  ``ENDATA`` is ignored (some MIPLIB 3 files carry extra sections there).
* ``OBJSENSE`` as a section (``MAX``/``MIN``/``MAXIMIZE``... on the next line)
  or on one line (``OBJSENSE MAX``).
* The first ``N`` row is the objective; further ``N`` rows are dropped with
  their entries. An RHS on the objective row is the objective constant with
  its sign flipped (``RHS obj 3.5`` means ``c'x - 3.5``).
* Integer columns come from ``MARKER``/``'INTORG'``...``'INTEND'`` blocks;
  such a column with no entry in BOUNDS is binary ([0, 1]), one with any
  bound entry keeps the default [0, +inf) on the sides not given.
* ``RANGES`` apply to every row type: L rows get ``[rhs - |R|, rhs]``, G rows
  ``[rhs, rhs + |R|]``, E rows ``[rhs, rhs + R]`` if R > 0 and ``[rhs + R,
  rhs]`` if R < 0; ranges on N rows are ignored.
* Bound types UP, LO, FX, MI, PL, FR, BV, LI, UI; a bound name (set name)
  may be omitted. Semi-continuous (SC) and semi-integer (SI) columns are
  refused, naming the column.
* Repeated entries (a coefficient, an RHS, a range, or one side of a bound
  given twice) keep the first value; later ones are ignored with a warning.
* A column first named in BOUNDS is a new, empty, continuous column.
* A negative UP bound does not move the default lower bound 0, integer
  column or not: HiGHS 1.16 keeps [0, u] (an empty domain, so the model is
  infeasible), unlike the old CPLEX convention that made the lower bound
  -inf. A warning says so.

Stricter than HiGHS where a silent reading would change the model: a value
that is not a number (HiGHS reads it as 0 with ``atof``), a reference to a
row the ROWS section does not declare (HiGHS drops the entry), a row or
column declared twice, a missing ``ENDATA`` (a truncated file), an unknown
word in OBJSENSE, and the sections HiGHS cannot read either (quadratic,
SOS, indicators...) are errors that name the line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from mcpops_common.problem import INF, Problem

__all__ = ["MpsError", "MpsResult", "parse_mps"]


class MpsError(ValueError):
    """The text is not a valid (supported) MPS file."""


class _ShapeError(MpsError):
    """A line whose fields do not fit free format: maybe fixed format with spaces in names."""


@dataclass
class MpsResult:
    problem: Problem
    fixed_format: bool
    warnings: list[str]


_SECTIONS = frozenset(
    {"NAME", "OBJSENSE", "OBJSENCE", "OBJNAME", "ROWS", "COLUMNS", "RHS", "RANGES", "BOUNDS"}
    | {"ENDATA"}
)
# Sections HiGHS cannot read either: refused, naming what they hold.
_UNSUPPORTED = {
    "QUADOBJ": "a quadratic objective",
    "QMATRIX": "a quadratic objective",
    "QSECTION": "quadratic terms",
    "QCMATRIX": "quadratic constraints",
    "CSECTION": "conic constraints",
    "SOS": "SOS constraints",
    "SETS": "SOS constraints",
    "INDICATORS": "indicator constraints",
    "GENCONS": "general constraints",
    "PWLOBJ": "a piecewise-linear objective",
    "PWLNAM": "piecewise-linear constraints",
    "PWLCON": "piecewise-linear constraints",
    "DELAYEDROWS": "delayed rows (lazy constraints)",
    "MODELCUTS": "model cuts",
    "USERCUTS": "user cuts",
}
# Keywords that may carry text on their own line; the others only start a
# section when alone (a column may be called RHS).
_WITH_ARGS = frozenset({"NAME", "OBJSENSE", "OBJSENCE", "QSECTION", "QCMATRIX", "CSECTION"})
_WITH_ARGS_FIRST = frozenset("".join(w[0] + w[0].lower() for w in _WITH_ARGS))
_NEEDS_VALUE = frozenset({"UP", "LO", "FX", "LI", "UI", "SC", "SI"})
_NO_VALUE = frozenset({"MI", "PL", "FR", "BV"})
_OBJECTIVE = -1
_FREE_ROW = -2


def parse_mps(text: str) -> MpsResult:
    """Parse MPS text: free format, or fixed format if names hold spaces (as HiGHS does)."""
    lines = _data_lines(text)
    try:
        return _Reader(lines, fixed=False).run()
    except _ShapeError as free_error:
        try:
            return _Reader(lines, fixed=True).run()
        except MpsError:
            raise free_error from None


def _data_lines(text: str) -> list[tuple[int, str]]:
    out = []
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if line and line[0] != "*":  # rstrip leaves a blank line empty
            out.append((no, line))
    return out


def _number(word: str, no: int, what: str, *names: str) -> float:
    """A number as Fortran-era files write it (``1.5D+02`` too); NaN and words refused.

    ``what`` is a template filled with ``names`` only for an error message.
    """
    try:
        value = float(word)
    except ValueError:
        try:
            value = float(word.replace("D", "E").replace("d", "e"))
        except ValueError:
            raise MpsError(f"line {no}: {what.format(*names)} {word!r} is not a number") from None
    if math.isnan(value):
        raise MpsError(f"line {no}: {what.format(*names)} is NaN")
    return value


# --------------------------------------------------------------------------- fixed fields


def _fixed_slice(line: str, lo: int, hi: int) -> str:
    return line[lo:hi].strip()


def _fixed_number(line: str, lo: int, hi: int) -> str:
    # A number may overrun its columns in hand-edited files; read its first word.
    words = line[lo:hi].split()
    return words[0] if words else ""


def _fixed_tokens(section: str, line: str) -> list[str]:
    """The fields of a fixed-format line (columns 2-3, 5-12, 15-22, 25-36, 40-47, 50-61)."""
    if section == "ROWS":
        return [_fixed_slice(line, 1, 3), _fixed_slice(line, 4, 12)]
    if (section == "COLUMNS" and "'MARKER'" in line) or section.startswith("OBJ"):
        return line.split()  # OBJSENSE/OBJNAME and markers hold one word where they like
    if section == "BOUNDS":
        fields = [
            _fixed_slice(line, 1, 3),
            _fixed_slice(line, 4, 12),
            _fixed_slice(line, 14, 22),
            _fixed_number(line, 24, 39),
        ]
        return fields if fields[3] else fields[:3]
    # COLUMNS (column, row, value[, row, value]); RHS/RANGES (set, row, value[, ...])
    fields = [
        _fixed_slice(line, 4, 12),
        _fixed_slice(line, 14, 22),
        _fixed_number(line, 24, 39),
    ]
    second = _fixed_slice(line, 39, 47)
    if second:
        fields += [second, _fixed_number(line, 49, len(line))]
    return fields


# --------------------------------------------------------------------------- reader


@dataclass
class _Columns:
    names: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    lb: list[float] = field(default_factory=list)
    ub: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    binary_default: list[bool] = field(default_factory=list)
    has_lower: list[bool] = field(default_factory=list)
    has_upper: list[bool] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    entries: list[dict[int, float]] = field(default_factory=list)

    def add(self, name: str, integer: bool) -> int:
        j = len(self.names)
        self.names.append(name)
        self.index[name] = j
        self.lb.append(0.0)
        self.ub.append(INF)
        self.integer.append(integer)
        self.binary_default.append(integer)
        self.has_lower.append(False)
        self.has_upper.append(False)
        self.cost.append(0.0)
        self.entries.append({})
        return j


class _Reader:
    def __init__(self, lines: list[tuple[int, str]], *, fixed: bool) -> None:
        self.lines = lines
        self.fixed = fixed
        self.name = ""
        self.maximize = False
        self.objective_name: str | None = None
        self.objective_row: str | None = None
        self.rows: dict[str, int] = {}
        self.row_names: list[str] = []
        self.row_types: list[str] = []
        self.rhs: dict[int, float] = {}
        self.ranges: dict[int, float] = {}
        self.offset: float | None = None
        self.cols = _Columns()
        self.current: int | None = None
        self.in_integer_block = False
        self.warnings: list[str] = []
        self.ignored: dict[str, int] = {}

    # ------------------------------------------------------------------ driver

    def run(self) -> MpsResult:
        handlers: dict[str, Callable[[list[str], int], None]] = {
            "OBJSENSE": self._objsense,
            "OBJSENCE": self._objsense,
            "OBJNAME": self._objname,
            "ROWS": self._row,
            "COLUMNS": self._column,
            "RHS": self._rhs,
            "RANGES": self._range,
            "BOUNDS": self._bound,
        }
        section = ""
        ended = False
        for no, line in self.lines:
            words = line.split()
            # Only a lone word, or NAME/OBJSENSE... with text, can start a section.
            keyword = (
                self._keyword(words, line, no)
                if len(words) == 1
                or (words[0][0] in _WITH_ARGS_FIRST and words[0].upper() in _WITH_ARGS)
                else ""
            )
            if keyword == "ENDATA":
                ended = True
                break  # HiGHS stops here; what follows is not read
            if keyword:
                section = keyword
                continue
            handler = handlers.get(section)
            if handler is None:
                # Text before the first section (or in NAME): HiGHS skips it too.
                self._ignore("lines outside any section")
                continue
            tokens = _fixed_tokens(section, line) if self.fixed else words
            handler(tokens, no)
        if not ended:
            raise MpsError("the file ends without ENDATA (is it truncated?)")
        return MpsResult(self._problem(), self.fixed, self._warnings())

    def _keyword(self, words: list[str], line: str, no: int) -> str:
        upper = words[0].upper()
        if upper in _UNSUPPORTED and (len(words) == 1 or upper in _WITH_ARGS):
            raise MpsError(
                f"line {no}: section {upper} holds {_UNSUPPORTED[upper]}, which are not supported"
            )
        if upper not in _SECTIONS or (len(words) > 1 and upper not in _WITH_ARGS):
            return ""
        if upper == "NAME":
            self.name = words[1] if len(words) > 1 else ""
        elif upper in {"OBJSENSE", "OBJSENCE"} and len(words) > 1:
            self._objsense(words[1:], no)
        if self.fixed and line[:1].isspace():
            return ""  # fixed format: section names start in column 1
        return upper

    def _ignore(self, what: str) -> None:
        self.ignored[what] = self.ignored.get(what, 0) + 1

    def _warnings(self) -> list[str]:
        out = list(self.warnings)
        out += [f"ignored {n} {what}" for what, n in self.ignored.items()]
        return out

    # ------------------------------------------------------------------ sections

    def _objsense(self, tokens: list[str], no: int) -> None:
        word = tokens[0].upper()
        if word.startswith("MAX"):
            self.maximize = True
        elif word.startswith("MIN"):
            self.maximize = False
        else:
            raise MpsError(f"line {no}: OBJSENSE is MAX or MIN, not {tokens[0]!r}")

    def _objname(self, tokens: list[str], no: int) -> None:
        if self.rows:
            raise MpsError(f"line {no}: OBJNAME must come before ROWS")
        self.objective_name = tokens[0]

    def _row(self, tokens: list[str], no: int) -> None:
        if len(tokens) != 2 or not tokens[1]:
            raise _ShapeError(f"line {no}: a ROWS line is a type (N, L, G, E) and a name")
        kind, name = tokens[0].upper(), tokens[1]
        if kind not in {"N", "L", "G", "E"}:
            raise MpsError(f"line {no}: row type {tokens[0]!r} is not N, L, G or E")
        if name in self.rows or name == self.objective_row:
            raise MpsError(f"line {no}: row {name!r} is declared twice")
        if kind == "N":
            is_objective = self.objective_row is None and (
                self.objective_name is None or self.objective_name == name
            )
            if is_objective:
                self.objective_row = name
            self.rows[name] = _OBJECTIVE if is_objective else _FREE_ROW
            return
        self.rows[name] = len(self.row_names)
        self.row_names.append(name)
        self.row_types.append(kind)

    def _row_index(self, name: str, no: int, section: str) -> int:
        r = self.rows.get(name)
        if r is None:
            raise _ShapeError(f"line {no}: row {name!r} in {section} is not declared in ROWS")
        return r

    def _pairs(self, tokens: list[str], no: int, section: str) -> list[tuple[int, str, str]]:
        """(row index, row name, value text) of the one or two pairs after the first field."""
        rest = tokens[1:]
        if len(rest) not in {2, 4}:
            raise _ShapeError(
                f"line {no}: a {section} line is a name and one or two (row, value) pairs"
            )
        return [
            (self._row_index(rest[k], no, section), rest[k], rest[k + 1])
            for k in range(0, len(rest), 2)
        ]

    def _column(self, tokens: list[str], no: int) -> None:
        if len(tokens) >= 3 and tokens[1] == "'MARKER'":
            self._marker(tokens[2], no)
            return
        if len(tokens) not in {3, 5}:
            raise _ShapeError(
                f"line {no}: a COLUMNS line is a column and one or two (row, value) pairs"
            )
        name = tokens[0]
        cols = self.cols
        j = self.current
        if j is None or cols.names[j] != name:
            if name in cols.index:
                raise MpsError(
                    f"line {no}: column {name!r} appears again after other columns "
                    "(a column's entries must be together)"
                )
            j = self.current = cols.add(name, self.in_integer_block)
        self._entry(j, tokens[1], tokens[2], no)
        if len(tokens) == 5:
            self._entry(j, tokens[3], tokens[4], no)

    def _entry(self, j: int, row: str, word: str, no: int) -> None:
        # The hot path of a large file: lookups inlined, _number only off the fast path.
        r = self.rows.get(row)
        if r is None:
            self._row_index(row, no, "COLUMNS")  # raises, naming the row
            return
        try:
            value = float(word)
        except ValueError:
            value = _number(word, no, "coefficient of {!r} in row {!r}", self.cols.names[j], row)
        if value != value:  # NaN
            _number(word, no, "coefficient of {!r} in row {!r}", self.cols.names[j], row)
        if value == 0.0 or r == _FREE_ROW:
            return  # HiGHS stores no zeros, and drops the extra N rows
        cols = self.cols
        if r == _OBJECTIVE:
            if cols.cost[j] != 0.0:
                self._ignore("repeated objective coefficients")
            else:
                cols.cost[j] = value
        elif r in cols.entries[j]:
            self._ignore("repeated coefficients")
        else:
            cols.entries[j][r] = value

    def _marker(self, word: str, no: int) -> None:
        if word == "'INTORG'" and not self.in_integer_block:
            self.in_integer_block = True
        elif word == "'INTEND'" and self.in_integer_block:
            self.in_integer_block = False
        else:
            raise MpsError(f"line {no}: unexpected MARKER {word} (INTORG and INTEND must pair)")

    def _sets_and_pairs(
        self, tokens: list[str], no: int, section: str
    ) -> list[tuple[int, str, str]]:
        # The set name is optional in free format: an even count of fields has none.
        if not self.fixed and len(tokens) % 2 == 0:
            tokens = ["", *tokens]
        return self._pairs(tokens, no, section)

    def _rhs(self, tokens: list[str], no: int) -> None:
        for r, row, word in self._sets_and_pairs(tokens, no, "RHS"):
            value = _number(word, no, "right-hand side of row {!r}", row)
            if r == _FREE_ROW:
                self._ignore("right-hand sides of free N rows")
            elif r == _OBJECTIVE:
                if self.offset is not None:
                    self._ignore("repeated right-hand sides")
                else:
                    self.offset = -value
            elif r in self.rhs:
                self._ignore("repeated right-hand sides")
            else:
                self.rhs[r] = value

    def _range(self, tokens: list[str], no: int) -> None:
        for r, row, word in self._sets_and_pairs(tokens, no, "RANGES"):
            value = _number(word, no, "range of row {!r}", row)
            if r < 0:
                self._ignore("ranges on N rows")
            elif r in self.ranges:
                self._ignore("repeated ranges")
            else:
                self.ranges[r] = value

    def _bound_fields(self, tokens: list[str], no: int) -> tuple[str, str, str]:
        """(type, column, value text or "") of a BOUNDS line, the set name dropped."""
        kind = tokens[0].upper()
        if kind not in _NEEDS_VALUE | _NO_VALUE:
            raise MpsError(f"line {no}: bound type {tokens[0]!r} is not one MPS defines")
        rest = tokens[1:]
        if self.fixed or len(rest) == 3:
            rest = rest[1:]  # drop the bound (set) name
        elif len(rest) == 2:
            # "BND x" or "x 1": MI/PL/FR/BV take no value (some writers add one); for
            # the others, "BND x" is a bound without its value.
            known = rest[0] in self.cols.index and rest[1] not in self.cols.index
            rest = rest if known else rest[1:]
        if not rest or not rest[0] or len(rest) > 2:
            raise _ShapeError(
                f"line {no}: a BOUNDS line is a type, a bound name, a column, a value"
            )
        value = rest[1] if len(rest) > 1 else ""
        if kind in _NEEDS_VALUE and not value:
            raise MpsError(f"line {no}: bound {kind} of column {rest[0]!r} has no value")
        return kind, rest[0], value

    def _bound(self, tokens: list[str], no: int) -> None:
        kind, name, word = self._bound_fields(tokens, no)
        if kind in {"SC", "SI"}:
            what = "semi-continuous" if kind == "SC" else "semi-integer"
            raise MpsError(
                f"line {no}: column {name!r} is {what} ({kind} bound); "
                f"{what} variables are not supported"
            )
        cols = self.cols
        j = cols.index.get(name)
        if j is None:
            j = cols.add(name, integer=False)  # HiGHS adds it as an empty column
        sets_lower = kind in {"LO", "FX", "MI", "FR", "BV", "LI"}
        sets_upper = kind in {"UP", "FX", "PL", "FR", "BV", "UI"}
        if (sets_lower and cols.has_lower[j]) or (sets_upper and cols.has_upper[j]):
            self._ignore("repeated bounds")
            return
        value = _number(word, no, "{} bound of {!r}", kind, name) if word else 0.0
        cols.binary_default[j] = False
        if kind in {"LI", "UI", "BV"}:
            cols.integer[j] = True
        lower, upper = {
            "MI": (-INF, 0.0),
            "PL": (0.0, INF),
            "FR": (-INF, INF),
            "BV": (0.0, 1.0),
        }.get(kind, (value, value))
        if sets_lower:
            cols.lb[j], cols.has_lower[j] = lower, True
        if sets_upper:
            cols.ub[j], cols.has_upper[j] = upper, True
        # HiGHS 1.16 (its free-format reader) leaves the default lower bound 0 under a
        # negative UP, integer column or not; CPLEX's old convention made it -inf. Read as
        # HiGHS reads it, and say so, since the column then has no feasible value.
        if kind in {"UP", "UI"} and value < 0 and not cols.has_lower[j]:
            self.warnings.append(
                f"line {no}: column {name!r} has upper bound {value:g} below its default "
                "lower bound 0, so it has no feasible value (read as HiGHS does; write "
                "MI or LO to lower it)"
            )

    # ------------------------------------------------------------------ model

    def _row_bounds(self, r: int) -> tuple[float, float]:
        kind, rhs = self.row_types[r], self.rhs.get(r, 0.0)
        lo, hi = {"L": (-INF, rhs), "G": (rhs, INF), "E": (rhs, rhs)}[kind]
        rng = self.ranges.get(r)
        if rng is None:
            return lo, hi
        if kind == "L" or (kind == "E" and rng < 0):
            return rhs - abs(rng), rhs
        if kind == "G" or rng > 0:
            return rhs, rhs + abs(rng)
        return lo, hi  # E row, range 0: still an equality

    def _problem(self) -> Problem:
        cols = self.cols
        p = Problem(name=self.name, maximize=self.maximize, objective_offset=self.offset or 0.0)
        for j, name in enumerate(cols.names):
            lb, ub = cols.lb[j], cols.ub[j]
            if cols.binary_default[j]:
                lb, ub = 0.0, 1.0
            p.add_variable(name, lb, ub, cols.integer[j], cols.cost[j])
        row_vars: list[list[int]] = [[] for _ in self.row_names]
        row_coefs: list[list[float]] = [[] for _ in self.row_names]
        for j, entries in enumerate(cols.entries):
            for r, value in entries.items():
                row_vars[r].append(j)
                row_coefs[r].append(value)
        for r, name in enumerate(self.row_names):
            lo, hi = self._row_bounds(r)
            p.add_constraint(name, lo, hi, row_vars[r], row_coefs[r])
        return p
