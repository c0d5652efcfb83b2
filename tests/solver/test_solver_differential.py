"""The runtime's readers build the model HiGHS builds, file by file.

Every instance of the shared set, every edge-case file of readercases.py and
40 random MPS files are read by the runtime and by HiGHS (``highspy``, one
child process for all of them); the two must agree on rows, columns,
nonzeros (the whole matrix, by digest), integer columns, every bound, the
objective (sense, coefficients, constant) and the names.

Deliberate differences, left out of the files here and tested on their own
in test_solver_mps.py: where HiGHS silently changes the model (a number it
cannot read becomes 0, an entry for an undeclared row is dropped, an RHS on
a second N row becomes the objective constant), the runtime refuses or reads
what the file says.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from highsref import differences, highs_models, summary
from readercases import LP_CASES, MPS_CASES, random_mps
from solverkit import data_dir

from mcpops_solver.readers import read_problem

pytestmark = pytest.mark.process

RANDOM_MPS = 40


def _shared_files() -> list[Path]:
    root = data_dir()
    return sorted(root.glob("*/*.mps.gz")) if (root / "manifest.json").is_file() else []


def _case_names() -> list[str]:
    return (
        [f"mps/{n}" for n in MPS_CASES]
        + [f"lp/{n}" for n in LP_CASES]
        + [f"random/{k}" for k in range(RANDOM_MPS)]
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cases")
    files: dict[str, Path] = {}
    for name in MPS_CASES:
        files[f"mps/{name}"] = root / f"{name}.mps"
    for name in LP_CASES:
        files[f"lp/{name}"] = root / f"{name}.lp"
    for k in range(RANDOM_MPS):
        files[f"random/{k}"] = root / f"random{k}.mps"
    texts = {**MPS_CASES, **LP_CASES}
    for key, path in files.items():
        kind, name = key.split("/")
        path.write_text(random_mps(int(name)) if kind == "random" else texts[name])
    return files


@pytest.fixture(scope="module")
def highs(generated: dict[str, Path]) -> dict[str, dict[str, Any]]:
    started = time.monotonic()
    models = highs_models([*_shared_files(), *generated.values()])
    # One child process reads them all; it must stay cheap enough for `make test`.
    assert time.monotonic() - started < 120
    return models


def _compare(path: Path, theirs: dict[str, Any]) -> None:
    assert "error" not in theirs, f"HiGHS could not read {path}"
    ours = summary(read_problem(str(path))[0])
    if path.suffix == ".lp":
        # Rows without a name are named by each reader its own way (R1 / HiGHS_R0).
        unnamed = [k for k, n in enumerate(theirs["row_names"]) if n.startswith("HiGHS_R")]
        for k in unnamed:
            ours["row_names"][k] = theirs["row_names"][k]
    assert differences(ours, theirs) == [], path.name


@pytest.mark.parametrize("path", _shared_files() or [None], ids=lambda p: p.name if p else "none")
def test_shared_instances_read_as_highs_reads_them(
    path: Path | None, highs: dict[str, dict[str, Any]]
) -> None:
    if path is None:
        pytest.skip(f"no shared instances at {data_dir()} (set MCPOPS_OPT_DATA)")
    _compare(path, highs[str(path)])


@pytest.mark.parametrize("case", _case_names())
def test_edge_case_files_read_as_highs_reads_them(
    case: str, generated: dict[str, Path], highs: dict[str, dict[str, Any]]
) -> None:
    path = generated[case]
    _compare(path, highs[str(path)])
