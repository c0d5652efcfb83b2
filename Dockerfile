# syntax=docker/dockerfile:1
#
# mcpops images, one Dockerfile, two targets:
#
#   docker build -t ghcr.io/mcpops/mcpops:0.1.0 .                          # operator (default)
#   docker build --target solver -t ghcr.io/mcpops/mcpops-solver:0.1.0 .   # solver pods
#
# The operator image is also what the operator puts into the pods it creates (MCPOPS_IMAGE):
# the MCP health sidecar (`mcpops health`), the test runner (`mcpops test-runner`) and the
# init container that installs the stdio bridge (`/opt/mcpops-bridge/install /mcpops/bridge`).
# The bridge is a self-contained PyInstaller bundle, so a stdio server's own image needs no
# Python: the server container runs `/mcpops/bridge/mcpops-bridge --port P --path /mcp -- CMD`.
# The bundle is built on Debian bookworm and needs a glibc >= 2.36 image to run in (not musl).
#
# Every stage starts FROM the BASE_IMAGE build argument: the official python image by default;
# `make images` (hack/images.py) passes a Debian bookworm base it builds itself (no registry
# here), with the host's CA bundle and pip's download cache as build-time volumes.
ARG BASE_IMAGE=python:3.11.14-slim-bookworm

# ---------------------------------------------------------------- operator build
FROM ${BASE_IMAGE} AS build

# pip's cache stays in the build stages (or in a build volume); only /opt/venv is copied on.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# PyInstaller reads shared-library dependencies with objdump (binutils). Build stage only.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Dependencies first, from pyproject.toml alone: a code change reuses these layers.
COPY pyproject.toml docker/requirements.py ./
RUN python3 requirements.py > /tmp/requirements.txt \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install -r /tmp/requirements.txt \
    && python3 -m venv /opt/pyinstaller \
    && /opt/pyinstaller/bin/pip install "pyinstaller>=6.10,<7" -r /tmp/requirements.txt

COPY README.md ./
COPY operator/ operator/
COPY solver-runtime/ solver-runtime/
COPY common/ common/
COPY docker/bridge_install.py docker/bridge_install.py

# The operator's runtime: the project without the `solver` extra (no OR-Tools).
RUN /opt/venv/bin/pip install --no-deps .

# The stdio bridge as a onedir bundle, plus its installer (a Python script run by the
# operator image's own interpreter in the init container).
RUN /opt/pyinstaller/bin/pip install --no-deps . \
    && /opt/pyinstaller/bin/pyinstaller \
        --noconfirm --clean --onedir \
        --name mcpops-bridge \
        --collect-submodules uvicorn \
        --distpath /opt/mcpops-bridge \
        --workpath /tmp/pyinstaller \
        --specpath /tmp/pyinstaller \
        operator/mcpops/inpod/bridge/__main__.py \
    && /opt/mcpops-bridge/mcpops-bridge/mcpops-bridge --help > /dev/null \
    && install -m 0755 docker/bridge_install.py /opt/mcpops-bridge/install \
    && chmod -R a+rX,go-w /opt/mcpops-bridge

# ---------------------------------------------------------------- solver build
FROM ${BASE_IMAGE} AS solver-build

# pip's cache stays in the build stages (or in a build volume); only /opt/venv is copied on.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml docker/requirements.py ./
RUN python3 requirements.py solver > /tmp/requirements.txt \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install -r /tmp/requirements.txt

COPY README.md ./
COPY operator/ operator/
COPY solver-runtime/ solver-runtime/
COPY common/ common/
RUN /opt/venv/bin/pip install --no-deps ".[solver]"

# ---------------------------------------------------------------- solver image
FROM ${BASE_IMAGE} AS solver

LABEL org.opencontainers.image.title="mcpops-solver" \
      org.opencontainers.image.description="mcpops OptimizationJob solver runtime (OR-Tools)" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH

RUN groupadd --system --gid 65532 mcpops \
    && useradd --system --uid 65532 --gid 65532 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin mcpops

COPY --from=solver-build /opt/venv /opt/venv

USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["mcpops-solver"]

# ---------------------------------------------------------------- operator image (default)
FROM ${BASE_IMAGE} AS operator

LABEL org.opencontainers.image.title="mcpops" \
      org.opencontainers.image.description="mcpops operator, MCP health sidecar, stdio bridge, test runner" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH

RUN groupadd --system --gid 65532 mcpops \
    && useradd --system --uid 65532 --gid 65532 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin mcpops

COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/mcpops-bridge /opt/mcpops-bridge

USER 65532:65532
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["mcpops"]
CMD ["run"]
