"""Real registries on loopback for the spec.updates tests: an OCI registry (Debian's
docker-registry, i.e. CNCF distribution), a PyPI-compatible index (pypiserver) and an npm
registry (verdaccio), each a real server process speaking its real protocol. Tests publish
into them with the registries' own upload protocols (no client tools needed).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from ports import free_port

ROOT = Path(__file__).resolve().parents[1]
VERDACCIO_DIR = ROOT / "hack" / "verdaccio"
CACHE = Path(os.environ.get("MCPOPS_CACHE", Path.home() / ".cache" / "mcpops"))


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer in {timeout}s: {log.read_text()[-2000:]}")


@contextmanager
def serve(argv: list[str], url: str, workdir: Path, name: str) -> Iterator[None]:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        wait_http(url, proc, log)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- OCI registry


class OciRegistry:
    def __init__(self, host: str, auth: tuple[str, str] | None = None) -> None:
        self.host = host  # 127.0.0.1:port
        self.base = f"http://{host}"
        self.auth = auth  # basic credentials, when the registry wants them

    def _blob(self, repo: str, data: bytes) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = httpx.post(f"{self.base}/v2/{repo}/blobs/uploads/", auth=self.auth)
        assert start.status_code == 202, start.text
        location = httpx.URL(self.base).join(start.headers["Location"])
        done = httpx.put(
            location.copy_merge_params({"digest": digest}), content=data, auth=self.auth
        )
        assert done.status_code == 201, done.text
        return {"digest": digest, "size": len(data)}

    def push(self, repo: str, tag: str, marker: str | None = None) -> str:
        """Upload a minimal OCI image (a config and one layer) as repo:tag; its digest.

        `marker` makes the content (so the digest) unique; the image is never run (the
        tests' pods run on simulated nodes), only its manifest and tags matter.
        """
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Labels": {"marker": marker or tag}},
                "rootfs": {"type": "layers", "diff_ids": []},
            }
        ).encode()
        layer = io.BytesIO()
        with tarfile.open(fileobj=layer, mode="w:gz") as tar:
            info = tarfile.TarInfo("version")
            body = (marker or tag).encode()
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                **self._blob(repo, config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    **self._blob(repo, layer.getvalue()),
                }
            ],
        }
        resp = httpx.put(
            f"{self.base}/v2/{repo}/manifests/{tag}",
            content=json.dumps(manifest).encode(),
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            auth=self.auth,
        )
        assert resp.status_code == 201, resp.text
        return str(resp.headers["Docker-Content-Digest"])


def docker_registry_binary() -> str:
    found = shutil.which("docker-registry")
    if found is None:
        raise RuntimeError("docker-registry is not installed: make registries")
    return found


def _bcrypt(password: str) -> str:
    # the registry's htpasswd takes bcrypt only; the C library's crypt(3) makes it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


@contextmanager
def oci_registry(workdir: Path, auth: tuple[str, str] | None = None) -> Iterator[OciRegistry]:
    """docker-registry on loopback; with `auth`, it wants those basic credentials."""
    port = free_port()
    (workdir / "oci").mkdir(exist_ok=True)
    config = workdir / "registry.yml"
    text = (
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {workdir / 'oci'}}}, "
        "delete: {enabled: true}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    if auth is not None:
        (workdir / "htpasswd").write_text(f"{auth[0]}:{_bcrypt(auth[1])}\n")
        text += f"auth: {{htpasswd: {{realm: test, path: {workdir / 'htpasswd'}}}}}\n"
    config.write_text(text)
    argv = [docker_registry_binary(), "serve", str(config)]
    with serve(argv, f"http://127.0.0.1:{port}/v2/", workdir, "docker-registry"):
        yield OciRegistry(f"127.0.0.1:{port}", auth)


# ---------------------------------------------------------------- PyPI index


class PyPIIndex:
    def __init__(self, url: str, packages: Path) -> None:
        self.url = url  # where <project>/json answers
        self.packages = packages

    def publish(self, name: str, version: str) -> None:
        """Upload a minimal wheel through the index's upload API (what twine does)."""
        dist = name.replace("-", "_")
        wheel = io.BytesIO()
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(
                f"{dist}-{version}.dist-info/METADATA",
                f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            )
            zf.writestr(
                f"{dist}-{version}.dist-info/WHEEL",
                "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            )
        filename = f"{dist}-{version}-py3-none-any.whl"
        resp = httpx.post(
            self.url + "/",
            data={":action": "file_upload", "name": name, "version": version},
            files={"content": (filename, wheel.getvalue())},
        )
        assert resp.status_code == 200, resp.text


@contextmanager
def pypi_index(workdir: Path) -> Iterator[PyPIIndex]:
    port = free_port()
    packages = workdir / "pypi"
    packages.mkdir(exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "pypiserver",
        "run",
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-a",
        ".",
        "-P",
        ".",
        "--disable-fallback",
        "--backend",
        "simple-dir",
        str(packages),
    ]
    with serve(argv, f"http://127.0.0.1:{port}/simple/", workdir, "pypiserver"):
        yield PyPIIndex(f"http://127.0.0.1:{port}", packages)


# ---------------------------------------------------------------- npm registry


def verdaccio_install() -> Path:
    """verdaccio as pinned in hack/verdaccio (package-lock.json), installed once into the
    cache keyed by the lockfile."""
    key = hashlib.sha256(
        (VERDACCIO_DIR / "package.json").read_bytes()
        + (VERDACCIO_DIR / "package-lock.json").read_bytes()
    ).hexdigest()[:16]
    target = CACHE / f"verdaccio-{key}"
    if not (target / "node_modules" / ".bin" / "verdaccio").exists():
        tmp = CACHE / f"verdaccio-{key}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for f in ("package.json", "package-lock.json"):
            shutil.copy(VERDACCIO_DIR / f, tmp / f)
        subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=tmp,
            check=True,
            capture_output=True,
        )
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return target / "node_modules" / ".bin" / "verdaccio"


class NpmRegistry:
    def __init__(self, url: str) -> None:
        self.url = url

    def publish(self, name: str, version: str) -> None:
        """Publish a minimal package with the registry's publish API (what npm publish
        sends: the package document with the tarball attached)."""
        tgz = io.BytesIO()
        pkg = json.dumps({"name": name, "version": version}).encode()
        with tarfile.open(fileobj=tgz, mode="w:gz") as tar:
            info = tarfile.TarInfo("package/package.json")
            info.size = len(pkg)
            tar.addfile(info, io.BytesIO(pkg))
        data = tgz.getvalue()
        tarball = f"{name.split('/')[-1]}-{version}.tgz"
        doc = {
            "_id": name,
            "name": name,
            "dist-tags": {"latest": version},
            "versions": {
                version: {
                    "name": name,
                    "version": version,
                    "dist": {
                        "shasum": hashlib.sha1(data).hexdigest(),
                        "tarball": f"{self.url}/{name}/-/{tarball}",
                    },
                }
            },
            "_attachments": {
                tarball: {
                    "content_type": "application/octet-stream",
                    "data": base64.b64encode(data).decode(),
                    "length": len(data),
                }
            },
        }
        resp = httpx.put(f"{self.url}/{name.replace('/', '%2f')}", json=doc, timeout=30)
        assert resp.status_code in {200, 201}, resp.text


@contextmanager
def npm_registry(workdir: Path) -> Iterator[NpmRegistry]:
    binary = verdaccio_install()
    port = free_port()
    storage = workdir / "npm"
    storage.mkdir(exist_ok=True)
    config = workdir / "verdaccio.yaml"
    # No uplinks: only what the test publishes exists. Anonymous publish: loopback only.
    config.write_text(
        f"storage: {storage}\n"
        "auth: {htpasswd: {file: ./htpasswd, max_users: -1}}\n"
        "packages:\n"
        "  '@*/*': {access: $all, publish: $anonymous}\n"
        "  '**': {access: $all, publish: $anonymous}\n"
        "log: {type: stdout, format: pretty, level: warn}\n"
    )
    argv = [str(binary), "--config", str(config), "--listen", f"127.0.0.1:{port}"]
    with serve(argv, f"http://127.0.0.1:{port}/-/ping", workdir, "verdaccio"):
        yield NpmRegistry(f"http://127.0.0.1:{port}")


# ---------------------------------------------------------------- fixtures (tests/conftest.py)


@pytest.fixture(scope="module")
def oci(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OciRegistry]:
    with oci_registry(tmp_path_factory.mktemp("oci")) as reg:
        yield reg


@pytest.fixture(scope="module")
def pypi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PyPIIndex]:
    with pypi_index(tmp_path_factory.mktemp("pypi")) as index:
        yield index


@pytest.fixture(scope="module")
def npm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NpmRegistry]:
    with npm_registry(tmp_path_factory.mktemp("npm")) as reg:
        yield reg
