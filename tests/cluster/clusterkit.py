"""Helpers for tests on a real control plane: waiting, kubectl, the operator process."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ports import free_port
from toolpaths import makefile_env

from mcpops.machinery.client import WRITE_VERBS

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_until(
    fn: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.2, what: str = ""
) -> T:
    """Poll fn until it returns something truthy, or fail with the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = fn()
        except Exception as exc:  # a transient API error is just another "not yet"
            last = exc
        if last and not isinstance(last, Exception):
            return last  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or fn}: {last!r}")
        time.sleep(interval)


@dataclass
class Cluster:
    kubeconfig: str
    kubectl_path: str
    provider: str

    def kubectl(
        self, *args: str, input_: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [self.kubectl_path, "--kubeconfig", self.kubeconfig, *args],
            input=input_,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {res.stderr}")
        return res

    def apply(self, manifest: dict[str, Any] | str, namespace: str | None = None) -> None:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        args = ["apply", "-f", "-"]
        if namespace:
            args += ["-n", namespace]
        self.kubectl(*args, input_=text)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        args = ["get", kind, name, "-o", "json"]
        if namespace:
            args += ["-n", namespace]
        res = self.kubectl(*args, check=False)
        if res.returncode != 0:
            if "NotFound" in res.stderr:
                return None
            raise AssertionError(res.stderr)
        data: dict[str, Any] = json.loads(res.stdout)
        return data

    def list(
        self, kind: str, namespace: str | None = None, selector: str | None = None
    ) -> list[dict[str, Any]]:
        args = ["get", kind, "-o", "json"]
        if namespace:
            args += ["-n", namespace]
        if selector:
            args += ["-l", selector]
        items: list[dict[str, Any]] = json.loads(self.kubectl(*args).stdout)["items"]
        return items

    def events(
        self, namespace: str, name: str, *, kind: str | None = None, reason: str | None = None
    ) -> list[dict[str, Any]]:
        """The Events about object `name` in `namespace`; only of `kind`, of `reason`, if given."""
        return [
            e
            for e in self.list("events", namespace)
            if e["involvedObject"]["name"] == name
            and (kind is None or e["involvedObject"].get("kind") == kind)
            and (reason is None or e["reason"] == reason)
        ]

    def wait_events(
        self,
        namespace: str,
        name: str,
        *,
        reason: str,
        kind: str | None = None,
        at_least: int = 1,
        timeout: float = 30.0,
        containing: str = "",
    ) -> list[dict[str, Any]]:
        """The Events as in `events` (whose message has `containing`), once there are
        `at_least` of them: the operator posts an Event after the status write it follows,
        so status is seen first."""

        def found() -> list[dict[str, Any]] | None:
            events = [
                e
                for e in self.events(namespace, name, kind=kind, reason=reason)
                if containing in (e.get("message") or "")
            ]
            return events if len(events) >= at_least else None

        return wait_until(
            found, timeout=timeout, what=f"{at_least} {reason} Event(s) {containing!r} on {name}"
        )


@functools.cache
def served_resources(kubeconfig: str, kubectl: str) -> frozenset[str]:
    out = subprocess.run(
        [kubectl, "--kubeconfig", kubeconfig, "api-resources", "-o", "name"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return frozenset(out.split())


def can_i(cluster: Cluster, sa: str, verb: str, resource: str, namespace: str | None) -> bool:
    """May the ServiceAccount `sa` do `verb` on `resource` (`plural[.group][/subresource]`)?

    `kubectl auth can-i --as=<sa>` for what the server serves. For a resource whose CRD is
    not installed (yet), kubectl cannot map the group and would ask about a core resource
    named "plural.group"; a SubjectAccessReview with the account's groups asks exactly.
    """
    name, _, subresource = resource.partition("/")
    plural, _, group = name.partition(".")
    if name in served_resources(cluster.kubeconfig, cluster.kubectl_path):
        args = ["auth", "can-i", verb, name, f"--as={sa}"]
        if subresource:
            args.append(f"--subresource={subresource}")
        args += ["-n", namespace] if namespace else ["--all-namespaces"]
        res = cluster.kubectl(*args, check=False)
        answer = res.stdout.strip()
        assert answer in {"yes", "no"}, f"kubectl auth can-i {verb} {resource}: {res.stderr}"
        return answer == "yes"
    sa_namespace = sa.split(":")[2]
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": sa,
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{sa_namespace}",
                "system:authenticated",
            ],
            "resourceAttributes": {
                "namespace": namespace or "",
                "verb": verb,
                "group": group,
                "resource": plural,
                "subresource": subresource,
            },
        },
    }
    out = cluster.kubectl("create", "-o", "json", "-f", "-", input_=json.dumps(review)).stdout
    return bool(json.loads(out)["status"].get("allowed"))


def assert_rights(
    cluster: Cluster, sa: str, namespace: str | None, expected: dict[tuple[str, str], bool]
) -> None:
    wrong = {
        f"{verb} {resource}": want
        for (verb, resource), want in expected.items()
        if can_i(cluster, sa, verb, resource, namespace) != want
    }
    assert not wrong, f"{sa} in {namespace or 'all namespaces'}: expected can-i {wrong}"


def wait_available(cluster: Cluster, name: str, namespace: str, replicas: int) -> dict[str, Any]:
    cluster.kubectl(
        "wait",
        "--for=condition=Available",
        f"deployment/{name}",
        "-n",
        namespace,
        "--timeout=90s",
        timeout=120,
    )
    return wait_until(
        lambda: (
            (d := cluster.get("deployment", name, namespace))
            and d["status"].get("readyReplicas") == replicas
            and d
        ),
        timeout=60,
        what=f"{replicas} ready replicas of {namespace}/{name}",
    )


def controlplane_env() -> None:
    """Outside make, ask the Makefile where the cached binaries live (one source of truth)."""
    if all(os.environ.get(k) for k in ("MCPOPS_CP_BIN", "MCPOPS_KWOK_BIN", "MCPOPS_HELM")):
        return
    for key, value in makefile_env().items():
        os.environ.setdefault(key, value)


def require_built_controlplane() -> None:
    controlplane_env()
    if not Path(os.environ["MCPOPS_CP_BIN"], ".stamp").exists():
        raise RuntimeError(
            "the control plane is not built: run `make controlplane` (or `make test`)"
        )


def _cluster_py(*args: str, check: bool = True, quiet: bool = False) -> int:
    return subprocess.run(
        [sys.executable, str(REPO / "hack" / "cluster.py"), *args],
        capture_output=quiet,
        check=check,
    ).returncode


@contextlib.contextmanager
def local_cluster(nodes: int | None = None) -> Iterator[Cluster]:
    """The project's own control plane (hack/cluster.py up, with `nodes` simulated nodes if
    given): reused when already running, else started here and stopped at the end (unless
    MCPOPS_KEEP_CLUSTER is set)."""
    require_built_controlplane()
    state_dir = REPO / ".cluster"
    started_here = _cluster_py("status", check=False, quiet=True) != 0
    _cluster_py("up", *(["--nodes", str(nodes)] if nodes is not None else []))
    # `make demo` leaves its operator running; a second operator acting on the same
    # objects would make every count of actions wrong.
    _cluster_py("stop", "operator-demo")
    try:
        yield Cluster(
            kubeconfig=str(state_dir / "kubeconfig"),
            kubectl_path=str(state_dir / "bin" / "kubectl"),
            provider="local",
        )
    finally:
        if started_here and not os.environ.get("MCPOPS_KEEP_CLUSTER"):
            _cluster_py("down", check=False)


def install_crds(cluster: Cluster) -> None:
    """Apply crds/ and wait until the API server serves every one of them."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    for path in sorted((REPO / "crds").glob("*.yaml")):
        name = path.name.split("_", 1)[1].removesuffix(".yaml") + "." + path.name.split("_")[0]
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")


def make_namespace(
    cluster: Cluster,
    prefix: str,
    restricted: bool,
    timeout: float = 120,
    annotations: dict[str, str] | None = None,
) -> str:
    """A fresh namespace `<prefix>-<random>`, labelled as the tests'; `restricted` enforces
    the restricted Pod Security Standard. Returns once pods can be created in it."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    labels = {"mcpops.dev/test": "true"}
    if restricted:
        labels["pod-security.kubernetes.io/enforce"] = "restricted"
        labels["pod-security.kubernetes.io/enforce-version"] = "latest"
    meta = {"name": name, "labels": labels, "annotations": annotations or {}}
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
    # Pods cannot be created until the controller-manager made the default ServiceAccount;
    # right after an API server restart its watches may still be coming back.
    try:
        wait_until(
            lambda: cluster.get("serviceaccount", "default", name),
            timeout=timeout,
            what=f"default ServiceAccount in {name}",
        )
    except AssertionError:
        # Not left behind: tests that wait for earlier test namespaces to go would wait on it.
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
        raise
    return name


def wait_other_test_namespaces_gone(cluster: Cluster, namespace: str, timeout: float = 90) -> None:
    """Until no test namespace but `namespace` exists: the operator's counters are global, and
    objects in earlier tests' namespaces still being deleted make it write (their pods go,
    so their status changes; updates are accepted in a terminating namespace)."""
    wait_until(
        lambda: (
            not [
                n
                for n in cluster.list("namespaces", selector="mcpops.dev/test=true")
                if n["metadata"]["name"] != namespace
            ]
        ),
        timeout=timeout,
        what="earlier test namespaces deleted",
    )


class OperatorProcess:
    """`mcpops run` as a real process against the cluster."""

    def __init__(self, kubeconfig: str, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.extra_env = env or {}
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "KUBECONFIG": self.kubeconfig,
            "MCPOPS_METRICS_HOST": "127.0.0.1",
            "MCPOPS_METRICS_PORT": str(self.port),
            **self.extra_env,
        }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mcpops.cli", "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        wait_until(self.ready, timeout=60, what="operator /readyz")

    def ready(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"operator exited: {tail}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name_labels, _, value = line.rpartition(" ")
            if "{" in name_labels:
                name, _, rest = name_labels.partition("{")
                pairs = []
                for part in rest.rstrip("}").split('",'):
                    if not part:
                        continue
                    k, _, v = part.partition("=")
                    pairs.append((k, v.strip('"')))
                out[(name, frozenset(pairs))] = float(value)
            else:
                out[(name_labels, frozenset())] = float(value)
        return out

    def request_counts(
        self, verbs: Collection[str] | None = None, *, accepted_only: bool = False
    ) -> dict[str, float]:
        """API requests the operator made so far, by "VERB resource": those of `verbs` (all
        when None); with `accepted_only`, only those the API server accepted (2xx)."""
        out: dict[str, float] = {}
        for (name, labels), v in self.metrics().items():
            lab = dict(labels)
            if (
                name == "mcpops_api_requests_total"
                and (verbs is None or lab.get("verb") in verbs)
                and (not accepted_only or lab.get("code", "").startswith("2"))
            ):
                key = f"{lab['verb']} {lab['resource']}"
                out[key] = out.get(key, 0) + v
        return out

    def write_counts(self, *, accepted_only: bool = False) -> dict[str, float]:
        """API writes the operator made so far, by "VERB resource"."""
        return self.request_counts(WRITE_VERBS, accepted_only=accepted_only)

    def wait_quiet(
        self,
        *,
        timeout: float = 45,
        quiet: float = 2.0,
        verbs: Collection[str] | None = WRITE_VERBS,
        accepted_only: bool = False,
    ) -> dict[str, float]:
        """Wait until the operator makes no API request of `verbs` (writes unless told;
        None: any) for `quiet` seconds; its counts of them (see request_counts)."""

        def settled() -> list[dict[str, float]] | None:
            before = self.request_counts(verbs, accepted_only=accepted_only)
            time.sleep(quiet)
            after = self.request_counts(verbs, accepted_only=accepted_only)
            return [after] if after == before else None  # a list: none at all is settled too

        return wait_until(settled, timeout=timeout, what="the operator's requests settle")[0]

    def writes(self) -> float:
        """API writes the operator made so far (POST/PUT/PATCH/DELETE)."""
        return sum(self.write_counts().values())

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


@contextlib.contextmanager
def replacing(
    session: OperatorProcess,
    log_path: Path,
    env: dict[str, str],
    before_start: Callable[[], None] | None = None,
) -> Iterator[OperatorProcess]:
    """An operator with settings of its own while the session's is stopped (two operators
    would both reconcile the same objects); the session's runs again afterwards."""
    session.stop()
    if before_start is not None:
        before_start()
    own = OperatorProcess(session.kubeconfig, log_path, env=env)
    try:
        own.start()
        yield own
    finally:
        own.stop()
        session.start()


def assert_lease_rights(cluster: Cluster, sa: str, namespace: str, lease: str) -> None:
    """Leader election: create any Lease, but read and renew only our own, and only in the
    operator's namespace."""

    def may(verb: str, what: str, ns: str) -> bool:
        res = cluster.kubectl("auth", "can-i", verb, what, f"--as={sa}", "-n", ns, check=False)
        return res.stdout.strip() == "yes"

    ours = f"leases.coordination.k8s.io/{lease}"
    assert may("create", "leases.coordination.k8s.io", namespace)
    assert may("update", ours, namespace)
    assert may("get", ours, namespace)
    assert not may("update", "leases.coordination.k8s.io/someone-else", namespace)
    assert not may("create", "leases.coordination.k8s.io", "default")
    assert not may("update", ours, "default")


# ---------------------------------------------------------------- fault injection


@dataclass
class Write:
    """One write request the proxy passed on (or stopped)."""

    method: str
    path: str  # without the query string
    body: Any
    at: float


@dataclass
class Trip:
    """Kill the operator at the first write that matches, before it lands or after."""

    match: Callable[[Write], bool]
    when: str  # "before" | "after"
    fired: threading.Event


class ApiProxy:
    """A TLS pass-through in front of the local API server, for one client (the operator).

    It records every write (method, path, JSON body) and can SIGKILL the operator at
    an exact write: before it reaches the API server, or after it landed but before the
    operator saw the answer. Serves with the API server's own certificate (local
    provider only), so the operator's kubeconfig differs only in the address.
    """

    def __init__(self, kubeconfig: str, workdir: Path, kill: Callable[[], None]) -> None:
        cfg = json.loads(Path(kubeconfig).read_text())
        cluster = cfg["clusters"][0]["cluster"]
        self.upstream: str = cluster["server"]
        self.ca = cluster["certificate-authority"]
        pki = Path(self.ca).parent
        self.cert, self.key = pki / "apiserver.crt", pki / "apiserver.key"
        self.port = free_port()
        cluster["server"] = f"https://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = str(workdir / "kubeconfig-proxy")
        Path(self.kubeconfig).write_text(json.dumps(cfg))
        self.kill = kill
        self.writes: list[Write] = []
        self.trip: Trip | None = None
        self._lock = threading.Lock()
        self._loop: Any = None
        self._runner: Any = None
        self._session: Any = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._started = threading.Event()

    # -- control, from the test thread
    def arm(self, match: Callable[[Write], bool], when: str) -> threading.Event:
        assert when in {"before", "after"}
        with self._lock:
            self.trip = Trip(match, when, threading.Event())
            return self.trip.fired

    def writes_to(self, fragment: str) -> list[Write]:
        with self._lock:
            return [w for w in self.writes if fragment in w.path]

    def start(self) -> None:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("proxy did not start")

    def stop(self) -> None:
        import asyncio

        if self._loop is not None:
            # Close the server and the upstream session first, so no handler is left pending.
            done = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            try:
                done.result(timeout=15)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _shutdown(self) -> None:
        import asyncio

        await self._runner.cleanup()
        await self._session.close()
        # What is still running (a handler streaming a watch whose client is gone, the
        # upstream connections' tasks) would otherwise be destroyed pending when the
        # interpreter exits, each with a warning after the test summary.
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    # -- the server, on its own event loop
    def _take_trip(self, write: Write) -> Trip | None:
        with self._lock:
            self.writes.append(write)
            trip = self.trip
            if trip is None or not trip.match(write):
                return None
            self.trip = None  # one shot
            return trip

    def _fire(self, trip: Trip) -> None:
        self.kill()
        trip.fired.set()

    def _serve(self) -> None:
        import asyncio
        import ssl

        import aiohttp
        from aiohttp import web

        async def main() -> None:
            up_ctx = ssl.create_default_context(cafile=self.ca)
            session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
                connector=aiohttp.TCPConnector(ssl=up_ctx, limit=0),
            )

            async def handle(request: web.Request) -> web.StreamResponse:
                body = await request.read()
                trip = None
                loop = asyncio.get_running_loop()
                if request.method in WRITE_VERBS:
                    try:
                        parsed = json.loads(body) if body else None
                    except ValueError:
                        parsed = None
                    trip = self._take_trip(
                        Write(request.method, request.path, parsed, time.monotonic())
                    )
                if trip is not None and trip.when == "before":
                    # Killing waits for the process to exit: keep that off the loop.
                    await loop.run_in_executor(None, self._fire, trip)
                    return web.Response(status=503, text="killed before this write")
                headers = {
                    k: v
                    for k, v in request.headers.items()
                    if k.lower() in {"authorization", "content-type", "accept", "user-agent"}
                }
                try:
                    upstream = await session.request(
                        request.method,
                        self.upstream + request.path_qs,
                        data=body or None,
                        headers=headers,
                    )
                except aiohttp.ClientError as exc:
                    return web.Response(status=503, text=f"upstream: {exc}")
                async with upstream:
                    if trip is not None:
                        await upstream.read()  # it landed; the operator never hears of it
                        await loop.run_in_executor(None, self._fire, trip)
                        return web.Response(status=503, text="killed after this write")
                    resp = web.StreamResponse(status=upstream.status)
                    if "Content-Type" in upstream.headers:
                        resp.content_type = upstream.headers["Content-Type"].split(";")[0]
                    await resp.prepare(request)
                    try:
                        async for chunk in upstream.content.iter_any():
                            await resp.write(chunk)
                        await resp.write_eof()
                    except (ConnectionError, aiohttp.ClientError):
                        pass  # either side went away (a killed operator, a closed watch)
                    return resp

            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", handle)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
            await runner.setup()
            self._runner, self._session = runner, session
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(self.cert), str(self.key))
            await web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=ctx).start()
            self._started.set()

        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.run_until_complete(main())
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
