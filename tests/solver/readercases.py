"""Small MPS and LP files, one per edge case the readers must get right, and random MPS files.

Each is read by the runtime and by HiGHS in test_solver_differential.py; the
unit tests in test_solver_mps.py / test_solver_formats.py check what they mean.
"""

from __future__ import annotations

import random

# --------------------------------------------------------------------------- MPS, free format

MPS_CASES: dict[str, str] = {
    # Some MIPLIB 3 files carry more after ENDATA; HiGHS stops reading there.
    "after_endata": """NAME AFTER
ROWS
 N obj
 L c1
COLUMNS
 x obj 1 c1 1
RHS
 RHS c1 4
ENDATA
QUADOBJ
 x x 1
this is not MPS at all
""",
    # RANGES on every row type: L [rhs-|R|, rhs], G [rhs, rhs+|R|], E by sign of R, N ignored.
    "ranges_all_rows": """NAME RANGES
ROWS
 N obj
 L lrow
 G grow
 E epos
 E eneg
 E ezero
 L lneg
COLUMNS
 x obj 1 lrow 1
 x grow 1 epos 1
 x eneg 1 ezero 1
 x lneg 1
RHS
 RHS lrow 10 grow 2
 RHS epos 5 eneg 5
 RHS ezero 7 lneg 3
RANGES
 RNG lrow 4 grow 6
 RNG epos 2 eneg -2
 RNG ezero 0 lneg -1.5
 RNG obj 9
ENDATA
""",
    # A negative UP on a column whose lower bound is the default 0: HiGHS keeps
    # [0, u], integer column or not (the model is then infeasible).
    "negative_upper_bounds": """NAME NEGUP
ROWS
 N obj
 L c1
COLUMNS
    MARKER                 'MARKER'                 'INTORG'
 n obj 1 c1 1
    MARKER                 'MARKER'                 'INTEND'
 y obj 1 c1 1
 m obj 1 c1 1
BOUNDS
 UP BND n -5
 UP BND y -2
 MI BND m
 UP BND m -3
ENDATA
""",
    # MARKER blocks: integer columns with no bound entry are binary; any entry ends that.
    "marker_blocks": """NAME MARKERS
ROWS
 N obj
 L c1
COLUMNS
 a obj 1 c1 1
    MARKER                 'MARKER'                 'INTORG'
 b obj 1 c1 1
 c obj 1 c1 1
 d obj 1 c1 1
 e obj 1 c1 1
    MARKER                 'MARKER'                 'INTEND'
 f obj 1 c1 1
    M2                     'MARKER'                 'INTORG'
 g obj 1 c1 1
    M3                     'MARKER'                 'INTEND'
RHS
 RHS c1 10
BOUNDS
 LO BND c 2
 MI BND d
 UP BND e 7
ENDATA
""",
    # Every bound type HiGHS reads, with and without the bound (set) name.
    "bound_types": """NAME BOUNDS
ROWS
 N obj
 G c1
COLUMNS
 up obj 1 c1 1
 lo obj 1 c1 1
 fx obj 1 c1 1
 fr obj 1 c1 1
 mi obj 1 c1 1
 pl obj 1 c1 1
 bv obj 1 c1 1
 li obj 1 c1 1
 ui obj 1 c1 1
 both obj 1 c1 1
RHS
 RHS c1 1
BOUNDS
 UP BND up 4.5
 LO lo -2
 FX BND fx 3
 FR BND fr
 MI mi
 PL BND pl
 BV BND bv
 LI BND li -3
 UI ui 9
 LO BND both -1
 UP BND both 1
ENDATA
""",
    # An RHS on the objective row is minus the objective constant (HiGHS, CPLEX).
    "objective_constant": """NAME OFFSET
ROWS
 N cost
 L c1
COLUMNS
 x cost 1 c1 1
RHS
 RHS cost 12.5 c1 3
ENDATA
""",
    # Repeated entries: the first value stands, later ones are ignored.
    "repeated_entries": """NAME REPEATS
ROWS
 N obj
 L c1
 G c2
COLUMNS
 x obj 1 c1 2
 x c1 5 obj 9
 x c2 1
RHS
 RHS c1 10 c2 1
 RHS c1 99
 RHS obj 4
 RHS obj 8
RANGES
 RNG c1 3
 RNG c1 6
BOUNDS
 UP BND x 8
 UP BND x 9
 LO BND x 1
ENDATA
""",
    "empty_sections": """NAME EMPTY
ROWS
 N obj
 L c1
COLUMNS
 x obj 1 c1 1
RHS
RANGES
BOUNDS
ENDATA
""",
    # Further N rows are free rows: dropped with their entries.
    "free_rows": """NAME FREEROWS
ROWS
 N obj
 N spare
 L c1
 N other
COLUMNS
 x obj 1 spare 5
 x c1 1 other 2
 y spare 1 c1 1
RHS
 RHS c1 4
ENDATA
""",
    "column_only_in_bounds": """NAME NEWCOL
ROWS
 N obj
 L c1
COLUMNS
 x obj 1 c1 1
BOUNDS
 UP BND ghost 3
 LO BND ghost2 1
ENDATA
""",
    "fortran_numbers_zeros_comments": """* a comment line
NAME FORTRAN
* another comment

ROWS
 N obj
 L c1
 G c2
COLUMNS
 x\tobj\t1.5D+01\tc1\t2.0d0
 x c2 0
 y obj 0 c1 -1E-1
 y c2 +3
RHS
 RHS c1 1.0D2 c2 -2.5e-1
ENDATA
""",
    "rhs_without_set_name": """NAME NOSET
ROWS
 N obj
 L c1
 G c2
COLUMNS
 x obj 1 c1 1
 x c2 1
RHS
 c1 4 c2 1
RANGES
 RNG c1 2
ENDATA
""",
    "lower_case_sections_no_objective": """name lower
rows
 L c1
 E c2
columns
 x c1 1 c2 1
 y c1 1
rhs
 rhs c1 4 c2 1
endata
""",
    "keyword_named_columns": """NAME KEYWORDS
ROWS
 N obj
 L BOUNDS
COLUMNS
 RANGES obj 1 BOUNDS 1
 RHS BOUNDS 2
RHS
 RHS BOUNDS 4
BOUNDS
 UP BND RANGES 3
ENDATA
""",
}


# The objective sense, written each way a file may write it (same model otherwise).
_SENSE_BODY = "ROWS\n N obj\n L c1\nCOLUMNS\n x obj 2 c1 1\nRHS\n RHS c1 3\nENDATA\n"
for _name, _sense in {
    "objsense_next_line": "OBJSENSE\n    MAX",
    "objsense_same_line": "OBJSENSE MAX",
    "objsense_maximize_word": "OBJSENSE\n    MAXIMIZE",
    "objsense_min": "OBJSENSE\n    MIN",
}.items():
    MPS_CASES[_name] = f"NAME {_name.upper()}\n{_sense}\n{_SENSE_BODY}"


def fixed_line(*fields: str, starts: tuple[int, ...] = (2, 5, 15, 25, 40, 50)) -> str:
    """A fixed-format data line: fields at columns 2-3, 5-12, 15-22, 25-36, 40-47, 50-61."""
    line = ""
    for text, column in zip(fields, starts, strict=False):
        line = line.ljust(column - 1) + text
    return line


def fixed_format_with_spaces() -> str:
    """Fixed MPS whose row and column names hold spaces: HiGHS switches to its fixed reader."""
    lines = [
        "NAME          FIXED",
        "OBJSENSE",
        "  MAX",
        "ROWS",
        fixed_line("N", "COST"),
        fixed_line("L", "LIM 1"),
        fixed_line("G", "LIM 2"),
        fixed_line("E", "MY EQ"),
        "COLUMNS",
        fixed_line("", "X ONE", "COST", "1.0", "LIM 1", "1.0"),
        fixed_line("", "X ONE", "LIM 2", "1.0"),
        "    MARKER    'MARKER'                 'INTORG'",
        fixed_line("", "Y TWO", "COST", "2.0", "MY EQ", "1.0"),
        fixed_line("", "Y TWO", "LIM 1", "1.0"),
        "    MARKER    'MARKER'                 'INTEND'",
        fixed_line("", "Z", "COST", "-1.0", "LIM 2", "3.0"),
        "RHS",
        fixed_line("", "RHS", "LIM 1", "4.0", "LIM 2", "1.0"),
        fixed_line("", "RHS", "MY EQ", "2.0", "COST", "-1.5"),
        "RANGES",
        fixed_line("", "RNG", "LIM 1", "2.0", "MY EQ", "-1.0"),
        "BOUNDS",
        fixed_line("UP", "BND", "X ONE", "3.0"),
        fixed_line("UP", "BND", "Y TWO", "5.0"),
        fixed_line("MI", "BND", "Z"),
        "ENDATA",
    ]
    return "\n".join(lines) + "\n"


MPS_CASES["fixed_names_with_spaces"] = fixed_format_with_spaces()


# --------------------------------------------------------------------------- random MPS


def random_mps(seed: int) -> str:
    """A random free-format MPS file using the features HiGHS and the runtime share."""
    rnd = random.Random(seed)
    nrows, ncols = rnd.randint(1, 8), rnd.randint(1, 10)
    rows = [(rnd.choice("LGE"), f"r{i}") for i in range(nrows)]
    out = [f"NAME RAND{seed}"]
    if rnd.random() < 0.5:
        out += ["OBJSENSE", "    " + rnd.choice(["MAX", "MIN", "MAXIMIZE"])]
    out += ["ROWS", " N obj"]
    spare = rnd.random() < 0.3
    if spare:
        out.append(" N spare")
    out += [f" {kind} {name}" for kind, name in rows]
    out.append("COLUMNS")
    integer = False
    names = ["obj", *(["spare"] if spare else []), *(name for _, name in rows)]
    for j in range(ncols):
        if rnd.random() < 0.3:
            integer = not integer
            mark = "'INTORG'" if integer else "'INTEND'"
            out.append(f"    MARKER                 'MARKER'                 {mark}")
        picked = rnd.sample(names, rnd.randint(1, min(4, len(names))))
        if rnd.random() < 0.2:
            picked.append(picked[0])  # a repeated entry: the first stands
        for name in picked:
            out.append(f" c{j} {name} {_value(rnd)}")
    if integer:
        out.append("    MARKER                 'MARKER'                 'INTEND'")
    out += _random_rhs_ranges(rnd, rows)
    out += _random_bounds(rnd, ncols)
    out.append("ENDATA")
    if rnd.random() < 0.3:
        out.append("trailing text after ENDATA")
    return "\n".join(out) + "\n"


def _value(rnd: random.Random) -> str:
    v = rnd.choice([0, 1, -1, 2.5, -3.25, 1e-3, 1234.5, 7])
    return rnd.choice([str(v), f"{v:.6E}".replace("E", "D")])


def _random_rhs_ranges(rnd: random.Random, rows: list[tuple[str, str]]) -> list[str]:
    out = ["RHS"]
    for _, name in rows:
        if rnd.random() < 0.7:
            out.append(f" RHS {name} {_value(rnd)}")
    if rnd.random() < 0.4:
        out.append(f" RHS obj {_value(rnd)}")
    if rnd.random() < 0.5:
        out.append("RANGES")
        for _, name in rows:
            if rnd.random() < 0.5:
                out.append(f" RNG {name} {rnd.choice(['0', '2', '-3', '1.5'])}")
    return out


def _random_bounds(rnd: random.Random, ncols: int) -> list[str]:
    out = ["BOUNDS"]
    for j in range(ncols):
        for _ in range(rnd.choice([0, 0, 1, 1, 2])):
            kind = rnd.choice(["UP", "LO", "FX", "FR", "MI", "PL", "BV", "LI", "UI"])
            value = "" if kind in {"FR", "MI", "PL", "BV"} else f" {rnd.choice([0, 1, 3, -2, 4])}"
            set_name = rnd.choice(["BND ", ""])
            out.append(f" {kind} {set_name}c{j}{value}")
    return out


# --------------------------------------------------------------------------- CPLEX LP

LP_CASES: dict[str, str] = {
    "spellings_and_sections": r"""\ upper-case section words, names, multi-line expressions
MAXIMIZE
 obj: 3 x + 2 y
   - z + 4
SUBJECT TO
 c1: x + y
   + z <= 10
 c3: x => 1
 c4: y =< 8
 c5: -x - y >= -20
Bounds
 -infinity <= z <= 5
 y >= -inf
 w free
 x <= 7
 v = 3
 u <= -2
Binaries
 b
 bb
Generals
 g
Integers
 h
End
""",
    "short_keywords": r"""min
 x + y
st
 r1: x + y >= 2
 s.t.x: x - y <= 1
bound
 x <= 4
 bb <= 5
 -3 <= bn <= inf
binary
 bb bn
general
 x
end
""",
    "keywords_on_one_line": """Minimize
  - 2 x1 - 3 x2
such that
  c1: x1 + x2 <= 4
  c2: x1 + 3 x2 <= 6
Generals x1
End
""",
    "maximum_and_s_t": """Maximum
 obj: x + 2 y
s.t.
 c1: x + y <= 4
 c2: 0 x + y >= 1
Bounds
 0 <= x <= 3
 y <= +infinity
End
""",
    "minimum_bounds_order": """Minimum
 obj: x - y
Subject To
 c1: x - y >= -3
Bounds
 x >= -2
 x <= 6
 4 >= y
 -1 <= y
General
 y
End
""",
}
