# syntax=docker/dockerfile:1
#
# mcpops images, one Dockerfile, two targets:
#
#   docker build -t ghcr.io/mcpops/mcpops:0.1.0 .                          # operator (default)
#   docker build --target solver -t ghcr.io/mcpops/mcpops-solver:0.1.0 .   # solver pods
#
# The operator image also runs the test-suite Jobs (`mcpops test-runner`) and the MCP health
# sidecar of sse servers (`mcpops health`) (MCPOPS_IMAGE). What runs in every other MCP
# server pod is the in-pod proxy, a static Go binary with an image of its own
# (hack/containerfiles/proxy.Containerfile, MCPOPS_PROXY_IMAGE).
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

WORKDIR /src
# Dependencies first, from pyproject.toml alone: a code change reuses these layers.
COPY pyproject.toml docker/requirements.py ./
RUN python3 requirements.py > /tmp/requirements.txt \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install -r /tmp/requirements.txt

COPY README.md ./
COPY operator/ operator/
COPY solver-runtime/ solver-runtime/
COPY common/ common/

# The operator's runtime: the project without the `solver` extra (no OR-Tools).
RUN /opt/venv/bin/pip install --no-deps .

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
      org.opencontainers.image.description="mcpops operator, test runner, MCP health sidecar (sse)" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH

RUN groupadd --system --gid 65532 mcpops \
    && useradd --system --uid 65532 --gid 65532 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin mcpops

COPY --from=build /opt/venv /opt/venv

USER 65532:65532
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["mcpops"]
CMD ["run"]
