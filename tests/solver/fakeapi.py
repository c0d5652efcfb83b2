"""A tiny stand-in for the Kubernetes API: just enough of ConfigMaps for the solver pod.

It serves create (POST, 409 on conflict), replace (PUT), get, list with a
label selector, and delete, and records every request, so the runtime's
in-cluster writer can be tested through a kubeconfig pointing at it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/configmaps(?:/(?P<name>[^/]+))?$")


class FakeApi:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_next: list[int] = []  # HTTP codes to answer the next requests with
        self.lock = threading.Lock()

    def _matches(self, obj: dict[str, Any], selector: str) -> bool:
        labels = obj["metadata"].get("labels", {})
        for term in filter(None, selector.split(",")):
            if term.startswith("!"):
                if term[1:] in labels:
                    return False
            else:
                key, _, value = term.partition("=")
                if labels.get(key) != value:
                    return False
        return True

    def handle(self, method: str, url: str, body: bytes) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append((method, url))
            if self.fail_next:
                code = self.fail_next.pop(0)
                return code, {"kind": "Status", "code": code, "reason": "Injected"}
            parsed = urlparse(url)
            m = _PATH.match(parsed.path)
            if m is None:
                return 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
            ns, name = m.group("ns"), m.group("name")
            if method == "POST" and name is None:
                obj = json.loads(body)
                key = (ns, obj["metadata"]["name"])
                if key in self.objects:
                    return 409, {"kind": "Status", "code": 409, "reason": "AlreadyExists"}
                self.objects[key] = obj
                return 201, obj
            if method == "PUT" and name is not None:
                obj = json.loads(body)
                if (ns, name) not in self.objects:
                    return 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
                self.objects[(ns, name)] = obj
                return 200, obj
            if method == "GET" and name is None:
                selector = parse_qs(parsed.query).get("labelSelector", [""])[0]
                items = [
                    o
                    for (n, _), o in self.objects.items()
                    if n == ns and self._matches(o, selector)
                ]
                return 200, {
                    "kind": "ConfigMapList",
                    "apiVersion": "v1",
                    "metadata": {},
                    "items": items,
                }
            if method == "DELETE" and name is not None:
                if self.objects.pop((ns, name), None) is None:
                    return 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
                return 200, {"kind": "Status", "code": 200}
            return 405, {"kind": "Status", "code": 405, "reason": "MethodNotAllowed"}


@contextmanager
def serve(tmp: Path) -> Iterator[tuple[FakeApi, Path]]:
    """Run the fake API on loopback; yield it and a kubeconfig file pointing at it."""
    api = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def _do(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            code, doc = api.handle(self.command, self.path, self.rfile.read(length))
            payload = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._do()

        def do_POST(self) -> None:
            self._do()

        def do_PUT(self) -> None:
            self._do()

        def do_DELETE(self) -> None:
            self._do()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "fake", "user": {"token": "t"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
                "current-context": "fake",
            }
        )
    )
    try:
        yield api, kubeconfig
    finally:
        server.shutdown()
        server.server_close()
