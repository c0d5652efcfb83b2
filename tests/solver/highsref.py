"""The model HiGHS (``highspy``) reads from a file, in a form the tests compare with ours.

highspy and OR-Tools each bundle a different HiGHS; loaded in one process,
the second library fails to load. So HiGHS reads in a child process: one
process for a whole list of files, which takes a few seconds for the
shared set.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from mcpops_common.problem import Problem

_SCRIPT = r"""
import gzip, hashlib, json, sys, tempfile
from pathlib import Path
import highspy

def digest(triples):
    h = hashlib.sha256()
    for r, j, v in sorted(triples):
        h.update(f"{r},{j},{float(v).hex()};".encode())
    return h.hexdigest()

def read(path, tmp):
    if path.endswith(".gz"):
        plain = Path(tmp) / Path(path).name[:-3]
        plain.write_bytes(gzip.decompress(Path(path).read_bytes()))
        path = str(plain)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    if h.readModel(path) == highspy.HighsStatus.kError:
        return {"error": "HiGHS refused the file"}
    lp = h.getLp()
    a = lp.a_matrix_
    a_start, a_index, a_value = list(a.start_), list(a.index_), list(a.value_)
    triples = [(int(a_index[k]), j, a_value[k])
               for j in range(lp.num_col_) for k in range(a_start[j], a_start[j + 1])]
    integrality = [int(x) for x in lp.integrality_] or [0] * lp.num_col_
    return {
        "rows": lp.num_row_, "cols": lp.num_col_, "nonzeros": len(triples),
        "integers": sum(1 for x in integrality if x == 1),
        "integer": [x == 1 for x in integrality],
        "maximize": lp.sense_ == highspy.ObjSense.kMaximize,
        "offset": float(lp.offset_),
        "cost": [float(x) for x in lp.col_cost_],
        "col_lower": [float(x) for x in lp.col_lower_],
        "col_upper": [float(x) for x in lp.col_upper_],
        "row_lower": [float(x) for x in lp.row_lower_],
        "row_upper": [float(x) for x in lp.row_upper_],
        "col_names": list(lp.col_names_), "row_names": list(lp.row_names_),
        "matrix": digest(triples),
    }

out = {}
with tempfile.TemporaryDirectory() as tmp:
    for path in sys.argv[1:]:
        out[path] = read(path, tmp)
print(json.dumps(out))
"""


def highs_models(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """What HiGHS reads from each file (keyed by str(path)), in one child process."""
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"highspy reader failed: {proc.stderr[-2000:]}")
    doc: dict[str, dict[str, Any]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return doc


def summary(p: Problem) -> dict[str, Any]:
    """Our model in the shape of the child's output."""
    h = hashlib.sha256()
    triples = sorted(
        (r, j, c)
        for r, (vs, cs) in enumerate(zip(p.row_vars, p.row_coefs, strict=True))
        for j, c in zip(vs, cs, strict=True)
    )
    for r, j, c in triples:
        h.update(f"{r},{j},{float(c).hex()};".encode())
    return {
        "rows": p.num_constraints,
        "cols": p.num_vars,
        "nonzeros": len(triples),
        "integers": sum(p.var_integer),
        "integer": list(p.var_integer),
        "maximize": p.maximize,
        "offset": p.objective_offset,
        "cost": list(p.objective),
        "col_lower": list(p.var_lb),
        "col_upper": list(p.var_ub),
        "row_lower": list(p.con_lb),
        "row_upper": list(p.con_ub),
        "col_names": list(p.var_names),
        "row_names": list(p.con_names),
        "matrix": h.hexdigest(),
    }


def differences(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """Each field that differs, with the first differing element of a list."""
    out = []
    for key, mine in ours.items():
        other = theirs.get(key)
        if mine == other:
            continue
        if isinstance(mine, list) and isinstance(other, list) and len(mine) == len(other):
            k = next(i for i, (a, b) in enumerate(zip(mine, other, strict=True)) if a != b)
            out.append(f"{key}[{k}]: ours {mine[k]!r}, HiGHS {other[k]!r}")
        else:
            out.append(f"{key}: ours {str(mine)[:80]}, HiGHS {str(other)[:80]}")
    return out
