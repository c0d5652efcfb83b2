"""A free TCP port for a server this machine starts (control plane components, test servers).

Chosen below the kernel's ephemeral range (net.ipv4.ip_local_port_range), where bind(0)
would pick it: between this check and the server's own bind, any outgoing connection on the
machine (kubectl, the operator, the API server's clients) may be given an ephemeral port,
and on a busy machine that has taken a port "known" to be free. Ports below the range are
only ever taken by an explicit bind. Kubernetes' NodePort range (30000-32767) is avoided too:
kube-proxy's rules on the real node would send a connection there to a Service.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOW = 20000
NODE_PORTS = 30000  # where Kubernetes' NodePort range starts


def _ephemeral_low() -> int:
    try:
        return int(RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port nothing listens on now, outside the ephemeral range when the range allows."""
    high = min(_ephemeral_low(), NODE_PORTS)
    candidates = range(LOW, high) if high - LOW >= 1000 else None
    for _ in range(200):
        port = random.choice(candidates) if candidates else 0
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))  # free on every address, not only on loopback
            except OSError:
                continue  # taken (on some address): another one
            chosen: int = s.getsockname()[1]
            return chosen
    raise RuntimeError("no free TCP port found")
