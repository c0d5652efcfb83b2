r"""CPLEX LP format: a reader and a writer, in plain Python.

OR-Tools' own LP reader takes a different, lp_solve-like dialect, so the
common format written by CPLEX, Gurobi, HiGHS, SCIP, PuLP and Pyomo is read
here. Supported: one linear objective (with a constant), linear constraints
(``<=``, ``>=``, ``=``, and ranged ``lo <= expr <= hi``), the Bounds section
(``free``, one- and two-sided bounds, ``inf``/``infinity``), General/Integers
and Binary sections, and ``\`` comments. Refused with a clear message:
quadratic terms, semi-continuous variables, SOS sets, indicator constraints.

As in CPLEX, a variable's default bounds are [0, +inf). A Binary
declaration makes a variable integer with upper bound 1 unless the Bounds
section gives one (HiGHS's reading; it is checked against highspy). One
deliberate difference: a constant on the left of a constraint (``c: x + 2 >=
5``) is moved to the right (``x >= 3``); HiGHS 1.16 drops it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from mcpops_common.problem import INF, Problem

__all__ = ["LpSyntaxError", "lp_safe_name", "parse_lp", "write_lp"]


class LpSyntaxError(ValueError):
    """The text is not a valid (supported) CPLEX LP file."""


_SECTION = re.compile(
    r"^\s*(?P<kw>minimi[sz]e|maximi[sz]e|minimum|maximum|min|max|subject\s+to|such\s+that|"
    r"s\.t\.|st\.|st|bounds?|generals?|gen|integers?|binary|binaries|bin|"
    r"semi-continuous|semis|semi|sos|end)(?=\s|$)",
    re.IGNORECASE,
)

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<op><=|>=|=<|=>|<|>|=)
     |(?P<colon>:)
     |(?P<sign>[+-])
     |(?P<star>\*)
     |(?P<special>[\[\]\^])
     |(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
     |(?P<name>[^\s:+\-*<>=\[\]\^\d.][^\s:+\-*<>=\[\]\^]*)
    )""",
    re.VERBOSE,
)

_INFINITY = {"inf", "infinity"}


@dataclass
class _Tok:
    kind: str
    text: str
    line: int


def _tokenize(text: str, line0: int) -> list[_Tok]:
    out: list[_Tok] = []
    for offset, line in enumerate(text.split("\n")):
        pos = 0
        while pos < len(line):
            if line[pos:].strip() == "":
                break
            m = _TOKEN.match(line, pos)
            if m is None or m.end() == pos:
                bad = line[pos:].strip()[:20]
                raise LpSyntaxError(f"line {line0 + offset}: unexpected text {bad!r}")
            kind = m.lastgroup or ""
            out.append(_Tok(kind, m.group(kind), line0 + offset))
            pos = m.end()
    return out


class _Stream:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self, k: int = 0) -> _Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def next(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise LpSyntaxError("unexpected end of section")
        self.i += 1
        return tok

    def done(self) -> bool:
        return self.i >= len(self.toks)

    def at_label(self) -> bool:
        a, b = self.peek(), self.peek(1)
        return a is not None and a.kind == "name" and b is not None and b.kind == "colon"


def _where(tok: _Tok | None) -> str:
    return f"line {tok.line}" if tok else "end of section"


class _Builder:
    def __init__(self) -> None:
        self.p = Problem()
        self.index: dict[str, int] = {}

    def var(self, name: str) -> int:
        j = self.index.get(name)
        if j is None:
            j = self.p.add_variable(name, 0.0, INF)
            self.index[name] = j
        return j


def _number(s: _Stream) -> float | None:
    """Parse [sign]* (number | inf) if that is what comes next; else None (nothing consumed)."""
    start = s.i
    neg = False
    while (t := s.peek()) is not None and t.kind == "sign":
        neg ^= t.text == "-"
        s.i += 1
    t = s.peek()
    if t is not None and t.kind == "num":
        s.i += 1
        return -float(t.text) if neg else float(t.text)
    if t is not None and t.kind == "name" and t.text.lower() in _INFINITY:
        s.i += 1
        return -INF if neg else INF
    s.i = start
    return None


def _expression(s: _Stream, b: _Builder) -> tuple[dict[int, float], float]:
    """Parse a linear expression up to a relation, a label or the end."""
    terms: dict[int, float] = {}
    constant = 0.0
    seen = False
    while True:
        t = s.peek()
        if t is None or t.kind in {"op", "colon"} or s.at_label():
            break
        if t.kind == "special":
            raise LpSyntaxError(f"{_where(t)}: quadratic terms are not supported")
        sign = 1.0
        had_sign = False
        while (t := s.peek()) is not None and t.kind == "sign":
            if t.text == "-":
                sign = -sign
            had_sign = True
            s.i += 1
        if seen and not had_sign:
            raise LpSyntaxError(f"{_where(t)}: expected + or - between terms")
        t = s.peek()
        if t is not None and t.kind == "special":
            raise LpSyntaxError(f"{_where(t)}: quadratic terms are not supported")
        coef = 1.0
        has_num = False
        if t is not None and t.kind == "num":
            coef = float(t.text)
            has_num = True
            s.i += 1
            if (st := s.peek()) is not None and st.kind == "star":
                s.i += 1
        t = s.peek()
        if (
            t is not None
            and t.kind == "name"
            and not s.at_label()
            and t.text.lower() not in _INFINITY
        ):
            s.i += 1
            j = b.var(t.text)
            terms[j] = terms.get(j, 0.0) + sign * coef
        elif has_num:
            constant += sign * coef
        else:
            raise LpSyntaxError(f"{_where(t)}: expected a term")
        seen = True
        if (t := s.peek()) is not None and t.kind == "special":
            raise LpSyntaxError(f"{_where(t)}: quadratic terms are not supported")
    return terms, constant


def _relation(s: _Stream) -> str:
    t = s.peek()
    if t is None:
        last = s.toks[-1] if s.toks else None
        raise LpSyntaxError(f"{_where(last)}: expected <=, >= or = before the end of the section")
    s.i += 1
    if t.kind != "op":
        raise LpSyntaxError(f"{_where(t)}: expected <=, >= or =, found {t.text!r}")
    return {"=<": "<=", "<": "<=", "=>": ">=", ">": ">="}.get(t.text, t.text)


def _rhs(s: _Stream) -> float:
    value = _number(s)
    if value is None:
        t = s.peek()
        raise LpSyntaxError(
            f"{_where(t)}: expected a number on the right-hand side"
            + (f", found {t.text!r}" if t else "")
        )
    return value


def _constraints(s: _Stream, b: _Builder) -> None:
    p = b.p
    unnamed: list[int] = []
    while not s.done():
        name = None
        if s.at_label():
            name = s.next().text
            s.next()
        first = s.peek()
        lower: float | None = None
        lower_op = ""
        save = s.i
        lead = _number(s)
        if lead is not None and (t := s.peek()) is not None and t.kind == "op":
            lower, lower_op = lead, _relation(s)
        else:
            s.i = save
        terms, const = _expression(s, b)
        op = _relation(s)
        rhs = _rhs(s) - const
        if lower is not None:
            lower -= const
            if lower_op != op or op == "=":
                raise LpSyntaxError(
                    f"{_where(first)}: a ranged constraint needs two <= or two >= relations"
                )
            lo, hi = (lower, rhs) if op == "<=" else (rhs, lower)
        elif op == "<=":
            lo, hi = -INF, rhs
        elif op == ">=":
            lo, hi = rhs, INF
        else:
            lo = hi = rhs
        if name is None:
            unnamed.append(p.num_constraints)
        items = [(j, c) for j, c in terms.items() if c != 0.0]
        p.add_constraint(name or "", lo, hi, [j for j, _ in items], [c for _, c in items])
    _name_rows(p, unnamed)


def _name_rows(p: Problem, unnamed: list[int]) -> None:
    """Name unnamed rows R1, R2... once every row is read, skipping names the file uses."""
    used = set(p.con_names)
    auto = 0
    for r in unnamed:
        auto += 1
        while f"R{auto}" in used:
            auto += 1
        p.con_names[r] = f"R{auto}"


def _bounds(s: _Stream, b: _Builder) -> None:
    p = b.p
    while not s.done():
        start = s.peek()
        lead = _number(s)
        if lead is not None:
            op = _relation(s)
            t = s.next()
            if t.kind != "name":
                raise LpSyntaxError(f"{_where(t)}: expected a variable name in bounds")
            j = b.var(t.text)
            if op == "<=":
                p.var_lb[j] = lead
            elif op == ">=":
                p.var_ub[j] = lead
            else:
                p.var_lb[j] = p.var_ub[j] = lead
            if (t2 := s.peek()) is not None and t2.kind == "op":
                op2 = _relation(s)
                val = _rhs(s)
                if op2 == "<=":
                    p.var_ub[j] = val
                elif op2 == ">=":
                    p.var_lb[j] = val
                else:
                    raise LpSyntaxError(f"{_where(t2)}: unexpected = in a two-sided bound")
            continue
        t = s.next()
        if t.kind != "name":
            raise LpSyntaxError(f"{_where(start)}: expected a bound, found {t.text!r}")
        j = b.var(t.text)
        nxt = s.peek()
        if nxt is not None and nxt.kind == "name" and nxt.text.lower() == "free":
            s.next()
            p.var_lb[j], p.var_ub[j] = -INF, INF
            continue
        op = _relation(s)
        val = _rhs(s)
        if op == "<=":
            p.var_ub[j] = val
        elif op == ">=":
            p.var_lb[j] = val
        else:
            p.var_lb[j] = p.var_ub[j] = val


_OBJECTIVES = frozenset(
    {"minimize", "minimise", "minimum", "min", "maximize", "maximise", "maximum", "max"}
)
_CONSTRAINTS = frozenset({"subject to", "such that", "s.t.", "st.", "st"})
_BOUNDS = frozenset({"bound", "bounds"})
_GENERALS = frozenset({"general", "generals", "gen", "integer", "integers"})
_BINARIES = frozenset({"binary", "binaries", "bin"})
_UNSUPPORTED = {
    "semi-continuous": "semi-continuous variables",
    "semis": "semi-continuous variables",
    "semi": "semi-continuous variables",
    "sos": "SOS constraints",
}


def _sections(text: str) -> list[tuple[str, int, list[str]]]:
    """(keyword, line number, lines) of each section, comments stripped."""
    lines = [ln.split("\\", 1)[0] for ln in text.replace("\r\n", "\n").split("\n")]
    sections: list[tuple[str, int, list[str]]] = []
    current: tuple[str, int, list[str]] | None = None
    for no, line in enumerate(lines, start=1):
        m = _SECTION.match(line)
        if m:
            kw = re.sub(r"\s+", " ", m.group("kw").lower())
            current = (kw, no, [line[m.end() :]])
            sections.append(current)
            if kw == "end":
                break
        elif current is None:
            if line.strip():
                raise LpSyntaxError(
                    f"line {no}: expected Minimize or Maximize before {line.strip()[:20]!r}"
                )
        else:
            current[2].append(line)
    if not sections or sections[0][0] not in _OBJECTIVES:
        raise LpSyntaxError("an LP file starts with Minimize or Maximize")
    return sections


def parse_lp(text: str) -> Problem:
    """Parse a CPLEX LP file into a Problem."""
    b = _Builder()
    p = b.p
    integers: list[str] = []
    binaries: list[str] = []
    seen_objective = False
    for kw, no, body in _sections(text):
        toks = _Stream(_tokenize("\n".join(body), no))
        if kw in _OBJECTIVES:
            if seen_objective:
                raise LpSyntaxError(f"line {no}: only one objective is supported")
            seen_objective = True
            _objective(kw, toks, b)
        elif kw in _CONSTRAINTS:
            if any("->" in line for line in body):
                raise LpSyntaxError(f"line {no}: indicator constraints are not supported")
            _constraints(toks, b)
        elif kw in _BOUNDS:
            _bounds(toks, b)
        elif kw in _GENERALS:
            integers += [_name_tok(t, b) for t in toks.toks]
        elif kw in _BINARIES:
            binaries += [_name_tok(t, b) for t in toks.toks]
        elif kw in _UNSUPPORTED:
            raise LpSyntaxError(f"line {no}: {_UNSUPPORTED[kw]} are not supported")
    for name in integers:
        p.var_integer[b.var(name)] = True
    for name in binaries:
        # As HiGHS reads it: bounds given in Bounds stand (whatever the order of the
        # sections); a missing upper bound becomes 1, the default lower bound is 0.
        j = b.var(name)
        p.var_integer[j] = True
        if p.var_ub[j] == INF:
            p.var_ub[j] = 1.0
    if p.num_vars == 0:
        raise LpSyntaxError("the LP file declares no variables")
    return p


def _objective(kw: str, toks: _Stream, b: _Builder) -> None:
    p = b.p
    p.maximize = kw.startswith("max")
    if toks.at_label():
        toks.next()
        toks.next()
    terms, const = _expression(toks, b)
    if not toks.done():
        raise LpSyntaxError(f"{_where(toks.peek())}: unexpected relation in objective")
    for j, c in terms.items():
        p.objective[j] += c
    p.objective_offset += const


def _name_tok(t: _Tok, b: _Builder) -> str:
    """A name in General/Binary: declared here if new, so columns keep the file's order."""
    if t.kind != "name":
        raise LpSyntaxError(f"line {t.line}: expected a variable name, found {t.text!r}")
    b.var(t.text)
    return t.text


# ---------------------------------------------------------------------------
# writer

_SAFE = re.compile(r"^[^\s:+\-*<>=\[\]\^\\\d.][^\s:+\-*<>=\[\]\^\\]*$")
_RESERVED = {
    "inf",
    "infinity",
    "free",
    "st",
    "end",
    "bound",
    "bounds",
    "gen",
    "general",
    "generals",
    "integer",
    "integers",
    "bin",
    "binary",
    "binaries",
    "min",
    "max",
    "minimize",
    "maximize",
    "minimise",
    "maximise",
    "minimum",
    "maximum",
    "subject",
    "such",
    "semi",
    "semis",
    "sos",
}


def lp_safe_name(name: str) -> bool:
    """Whether `name` can be written to an LP file and read back unchanged."""
    return bool(_SAFE.match(name)) and name.lower() not in _RESERVED


def _num(x: float) -> str:
    if x == INF:
        return "inf"
    if x == -INF:
        return "-inf"
    if x == math.floor(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


def _expr(pairs: list[tuple[str, float]]) -> str:
    parts = []
    for name, c in pairs:
        sign = "-" if c < 0 or (c == 0 and math.copysign(1.0, c) < 0) else "+"
        parts.append(f"{sign} {_num(abs(c))} {name}")
    return " ".join(parts)


def write_lp(p: Problem, *, split_ranges: bool = False) -> str:
    """Write a Problem as a CPLEX LP file (names must pass lp_safe_name).

    A ranged constraint is written ``name: lo <= expr <= hi``, which this
    module reads back; some readers (HiGHS, CPLEX) do not take that form, so
    ``split_ranges=True`` writes it as two rows ``name_lo`` and ``name_hi``.
    """
    for name in [*p.var_names, *p.con_names]:
        if not lp_safe_name(name):
            raise ValueError(f"name {name!r} cannot be written to an LP file")
    if p.num_vars == 0:
        raise ValueError("cannot write a problem without variables")
    out = ["\\ written by mcpops-solver", "Maximize" if p.maximize else "Minimize"]
    out.append(_objective_line(p))
    out.append("Subject To")
    for r, name in enumerate(p.con_names):
        out += _constraint_lines(p, r, name, split_ranges)
    out.append("Bounds")
    bounds, generals, binaries = _bound_lines(p)
    out += bounds
    if generals:
        out.append("Generals")
        out += [f" {n}" for n in generals]
    if binaries:
        out.append("Binaries")
        out += [f" {n}" for n in binaries]
    out.append("End")
    return "\n".join(out) + "\n"


def _objective_line(p: Problem) -> str:
    obj = [(p.var_names[i], c) for i, c in enumerate(p.objective) if c != 0.0]
    line = " obj:"
    if obj:
        line += " " + _expr(obj)
    if p.objective_offset != 0.0 or not obj:
        sign = "-" if p.objective_offset < 0 else "+"
        line += f" {sign} {_num(abs(p.objective_offset))}"
    return line


def _constraint_lines(p: Problem, r: int, name: str, split_ranges: bool) -> list[str]:
    pairs = [(p.var_names[j], c) for j, c in zip(p.row_vars[r], p.row_coefs[r], strict=True)]
    expr = _expr(pairs or [(p.var_names[0], 0.0)])
    lo, hi = p.con_lb[r], p.con_ub[r]
    if lo == hi:
        return [f" {name}: {expr} = {_num(hi)}"]
    if lo == -INF and hi != INF:
        return [f" {name}: {expr} <= {_num(hi)}"]
    if hi == INF and lo != -INF:
        return [f" {name}: {expr} >= {_num(lo)}"]
    if not split_ranges:
        return [f" {name}: {_num(lo)} <= {expr} <= {_num(hi)}"]
    out = []
    if lo != -INF:
        out.append(f" {name}_lo: {expr} >= {_num(lo)}")
    if hi != INF:
        out.append(f" {name}_hi: {expr} <= {_num(hi)}")
    return out


def _bound_lines(p: Problem) -> tuple[list[str], list[str], list[str]]:
    """(bound lines, general integer names, binary names)."""
    out: list[str] = []
    generals, binaries = [], []
    used = {i for i, c in enumerate(p.objective) if c != 0.0}
    for row in p.row_vars:
        used.update(row)
    for i, name in enumerate(p.var_names):
        lo, hi = p.var_lb[i], p.var_ub[i]
        if p.var_integer[i] and lo == 0.0 and hi == 1.0:
            binaries.append(name)
            continue
        if p.var_integer[i]:
            generals.append(name)
        if lo == 0.0 and hi == INF:
            if i not in used and not p.var_integer[i]:
                out.append(f" {name} >= 0")  # declare a variable that appears nowhere else
            continue
        if lo == -INF and hi == INF:
            out.append(f" {name} free")
        elif lo == hi:
            out.append(f" {name} = {_num(lo)}")
        else:
            out.append(f" {_num(lo)} <= {name} <= {_num(hi)}")
    return out, generals, binaries
