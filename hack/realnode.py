"""A real node beside the simulated ones: containerd + runc, kubelet, kube-proxy, CoreDNS.

Imported by hack/cluster.py, which calls, in this order:
    capable()           -> None, or the one-line reason this machine cannot run a node
    prepare(state)      machine-wide lock, the node address on lo, tokens and the kubelet
                        client certificate (before the API server starts: it needs them)
    up(state, start)    network, containerd, images, CoreDNS, kubelet, kube-proxy
    down(state, stop)   the reverse, and every trace listed in teardown()

Network layout (all on this machine only):
    NODE_IP  10.245.0.1/32 on lo: the node's InternalIP, where the kubelet, CoreDNS and (when
             the node runs) the API server listen. Reachable from lo and the pod bridge only.
    pods     10.244.0.0/24 on the bridge mcpops0 (CNI bridge + host-local + portmap)
    services 10.96.0.0/16 (kube-proxy, iptables mode), routed to the bridge, never out
Filter rules (chains MCPOPS-*) drop forwarded pod traffic that would leave through any other
interface, traffic into the pod range that does not come from the bridge, and host traffic to
the pod/service/simulated ranges that would leave by the default route.

CoreDNS runs as a host process (not a pod): it needs no image, it is up before the first pod
asks, and it answers cluster.local only (no `forward`), so a pod cannot resolve, hence not
easily reach, anything outside the machine.

The API server reaches the kubelet with a client certificate (system:masters) that the kubelet
verifies (x509 + Webhook authorization); there is no anonymous kubelet access, since pods can
reach NODE_IP.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from freeport import free_port

NODE_NAME = "mcpops-real"
NODE_IP = "10.245.0.1"
POD_CIDR = "10.244.0.0/24"
POD_GATEWAY = "10.244.0.1"
SERVICE_CIDR = "10.96.0.0/16"
# kwok's simulated pods and nodes get addresses from these (hack/cluster.py flags); a Service
# whose endpoints are simulated pods must not send anything out of the machine either.
SIMULATED_RANGES = ("10.0.0.0/16", "10.1.0.1/32")
BRIDGE = "mcpops0"
TAINT_KEY = "mcpops.dev/real-node"
NODE_LABEL = "mcpops.dev/node=real"
KUBELET_PORT = 10250
CHAIN_PREFIXES = ("MCPOPS-", "KUBE-", "CNI-")
CNI_BIN = Path("/usr/lib/cni")
try:  # hack/images.py names the pause image it builds; beside this file
    from images import PAUSE_IMAGE
except ImportError:  # pragma: no cover - a checkout without the images tooling
    PAUSE_IMAGE = "mcpops.local/pause:1"
LOCK = Path("/run/mcpops-realnode.lock")
# From containerd's start to the node Ready, images imported: 50 s in CI, over 90 s at a load
# average of 12 on the 2-core machine (a deadline, not a wait: a Ready node returns at once).
READY_DEADLINE = float(os.environ.get("MCPOPS_NODE_DEADLINE", "180"))

Start = Callable[[str, list[str], dict[str, Any]], None]
Stop = Callable[[dict[str, Any], float], None]
NODE_PROCS = ("containerd", "coredns", "kubelet", "kube-proxy")


def log(msg: str) -> None:
    import sys

    print(f"[cluster] real node: {msg}", file=sys.stderr, flush=True)


def placement_annotations() -> dict[str, str]:
    """Namespace annotations that put every pod of the namespace on the real node: the API
    server's PodNodeSelector adds the node selector, PodTolerationRestriction the toleration
    of its taint. Pods elsewhere cannot tolerate the taint, so they never land there."""
    return {
        "scheduler.alpha.kubernetes.io/node-selector": NODE_LABEL,
        "scheduler.alpha.kubernetes.io/defaultTolerations": json.dumps(
            [{"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
        ),
    }


def node_bin() -> Path:
    return Path(os.environ.get("MCPOPS_NODE_BIN", ""))


def coredns_bin() -> Path:
    return Path(os.environ.get("MCPOPS_COREDNS_BIN", ""))


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {res.stderr.strip()}")
    return res


def wanted() -> bool:
    return os.environ.get("MCPOPS_REAL_NODE", "1") not in ("0", "false", "no")


def capable() -> str | None:
    """None when this machine can run the node, else why not (one line)."""
    if not wanted():
        return "disabled (MCPOPS_REAL_NODE=0)"
    if os.geteuid() != 0:
        return "skipped: needs root (network namespaces, cgroups, iptables)"
    if (
        not Path("/sys/fs/cgroup/memory").is_dir()
        and not Path("/sys/fs/cgroup/cgroup.controllers").exists()
    ):
        return "skipped: no memory cgroup controller mounted"
    missing = [
        str(p)
        for p in (
            node_bin() / "kubelet",
            node_bin() / "kube-proxy",
            coredns_bin() / "coredns",
            CNI_BIN / "bridge",
            CNI_BIN / "host-local",
        )
        if not p.is_file()
    ]
    missing += [t for t in ("containerd", "runc", "iptables", "ctr", "ip") if not shutil.which(t)]
    if missing:
        return f"skipped: missing {', '.join(missing)} (run `make node`)"
    holder = _lock_holder()
    if holder is not None:
        return f"skipped: this machine's real node belongs to the cluster in {holder}"
    return None


def _lock_holder() -> str | None:
    """The state dir of another live cluster that owns the machine's one real node."""
    try:
        data = json.loads(LOCK.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    from_state = Path(data.get("state_dir", ""))
    if Path(data.get("state_dir", "")) == STATE_DIR:
        return None
    state = from_state / "state.json"
    if not state.exists() or not (from_state / "node").exists():
        return None
    return str(from_state)


STATE_DIR = Path(
    os.environ.get("MCPOPS_CLUSTER_DIR", Path(__file__).resolve().parent.parent / ".cluster")
)
NODE_DIR = STATE_DIR / "node"


# ---------------------------------------------------------------- before the API server


def prepare(state: dict[str, Any]) -> None:
    """Claim the machine's node, put NODE_IP on lo, mint tokens and the kubelet client cert."""
    LOCK.write_text(json.dumps({"state_dir": str(STATE_DIR), "pid": os.getpid()}))
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    if NODE_IP not in run("ip", "-4", "addr", "show", "dev", "lo").stdout:
        run("ip", "addr", "add", f"{NODE_IP}/32", "dev", "lo")
    state["node"] = {
        "ip": NODE_IP,
        # Where up() finds them, also when `cluster.py up` later restarts the node alone.
        "bin": {"node": str(node_bin()), "coredns": str(coredns_bin())},
        "tokens": {
            "kubelet": secrets.token_hex(24),
            "kube-proxy": secrets.token_hex(24),
            "coredns": secrets.token_hex(24),
        },
    }
    _kubelet_client_pki(STATE_DIR / "pki")


def token_lines(state: dict[str, Any]) -> str:
    """Extra tokens.csv lines: the kubelet as a node, kube-proxy and CoreDNS as themselves."""
    tokens = state["node"]["tokens"]
    return (
        f'{tokens["kubelet"]},system:node:{NODE_NAME},system:node:{NODE_NAME},"system:nodes"\n'
        f"{tokens['kube-proxy']},system:kube-proxy,system:kube-proxy\n"
        f"{tokens['coredns']},mcpops:coredns,mcpops:coredns\n"
    )


def apiserver_flags() -> list[str]:
    pki = STATE_DIR / "pki"
    return [
        f"--bind-address={NODE_IP}",
        f"--advertise-address={NODE_IP}",
        # Pods reach the API server through the `kubernetes` Service: its endpoint is NODE_IP.
        "--endpoint-reconciler-type=lease",
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-client-certificate={pki / 'kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'kubelet-client.key'}",
    ]


def _openssl(*args: str) -> None:
    run("openssl", *args)


def _kubelet_client_pki(pki: Path) -> None:
    ca, ca_key = pki / "kubelet-ca.crt", pki / "kubelet-ca.key"
    crt, key = pki / "kubelet-client.crt", pki / "kubelet-client.key"
    if crt.exists():
        return
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "3650", "-subj", "/CN=mcpops-kubelet-client-ca",
    )  # fmt: skip
    csr = pki / "kubelet-client.csr"
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/O=system:masters/CN=kube-apiserver-kubelet-client",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(crt), "-days", "3650",
    )  # fmt: skip


def kubeconfig(path: Path, server: str, token: str) -> Path:
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": server,
                    "certificate-authority": str(STATE_DIR / "pki" / "apiserver.crt"),
                },
            }
        ],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "u"}}],
        "current-context": "local",
    }
    path.write_text(json.dumps(cfg, indent=2))
    path.chmod(0o600)
    return path


# ---------------------------------------------------------------- network


def _ipt(table: str, *args: str, v6: bool = False, check: bool = True) -> str:
    return run("ip6tables" if v6 else "iptables", "-w", "-t", table, *args, check=check).stdout


def _ipt_ok(table: str, *args: str) -> bool:
    return run("iptables", "-w", "-t", table, *args, check=False).returncode == 0


def _network_up() -> None:
    if run("ip", "link", "show", BRIDGE, check=False).returncode != 0:
        run("ip", "link", "add", BRIDGE, "type", "bridge")
    if POD_GATEWAY not in run("ip", "-4", "addr", "show", "dev", BRIDGE).stdout:
        run("ip", "addr", "add", f"{POD_GATEWAY}/24", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")
    # Services are virtual (kube-proxy DNATs them); what is left un-translated stays here.
    run("ip", "route", "replace", SERVICE_CIDR, "dev", BRIDGE)
    state_file = NODE_DIR / "ip_forward.orig"
    if not state_file.exists():
        state_file.write_text(Path("/proc/sys/net/ipv4/ip_forward").read_text())
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    _guard_rules()


def guard_rules() -> dict[tuple[str, str], list[list[str]]]:
    """(chain, built-in chain it hooks into) -> its rules, in order. MCPOPS-FWD: nothing from
    the pod range is forwarded anywhere but the bridge, nothing reaches the pods from
    elsewhere; MCPOPS-OUT: the machine sends nothing for the pod, Service or simulated ranges
    out of its own interfaces; MCPOPS-IN: the node address answers lo and the bridge only."""
    return {
        ("MCPOPS-FWD", "FORWARD"): [
            ["-s", POD_CIDR, "-o", BRIDGE, "-j", "RETURN"],
            ["-s", POD_CIDR, "-j", "DROP"],
            ["-d", POD_CIDR, "!", "-i", BRIDGE, "-j", "DROP"],
        ],
        ("MCPOPS-OUT", "OUTPUT"): [
            rule
            for dst in (POD_CIDR, SERVICE_CIDR, *SIMULATED_RANGES)
            for rule in (
                ["-d", dst, "-o", BRIDGE, "-j", "RETURN"],
                ["-d", dst, "-o", "lo", "-j", "RETURN"],
                ["-d", dst, "-j", "DROP"],
            )
        ],
        ("MCPOPS-IN", "INPUT"): [
            ["-d", NODE_IP, "-i", "lo", "-j", "RETURN"],
            ["-d", NODE_IP, "-i", BRIDGE, "-j", "RETURN"],
            ["-d", NODE_IP, "-j", "DROP"],
        ],
    }


def _guard_rules() -> None:
    for (chain, hook), body in guard_rules().items():
        if _ipt("filter", "-S", chain, check=False).strip() == "":
            _ipt("filter", "-N", chain)
        _ipt("filter", "-F", chain)
        for rule in body:
            _ipt("filter", "-A", chain, *rule)
        # First in its hook, also after kube-proxy and the kubelet added theirs (up() calls
        # this again): a rule of theirs that accepts must not come before our drops.
        while _ipt_ok("filter", "-D", hook, "-j", chain):
            pass
        _ipt("filter", "-I", hook, "1", "-j", chain)


def _cni_config() -> Path:
    conf_dir = NODE_DIR / "cni" / "net.d"
    conf_dir.mkdir(parents=True, exist_ok=True)
    conf = {
        "cniVersion": "1.0.0",
        "name": "mcpops",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,  # nothing is meant to leave the machine, so nothing to hide
                "hairpinMode": True,  # a pod reaches itself through its own Service
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR, "gateway": POD_GATEWAY}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(NODE_DIR / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    (conf_dir / "10-mcpops.conflist").write_text(json.dumps(conf, indent=2))
    return conf_dir


# ---------------------------------------------------------------- processes


def _containerd_config() -> Path:
    cfg = NODE_DIR / "containerd.toml"
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    cfg.write_text(
        f"""version = 2
root = "{NODE_DIR / "containerd" / "root"}"
state = "{NODE_DIR / "containerd" / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{containerd_socket()}"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{NODE_DIR / "containerd" / "opt"}"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # root here lacks CAP_SYS_RESOURCE: asking for oom_score_adj -998 makes runc fail
  restrict_oom_score_adj = true
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = "{CNI_BIN}"
  conf_dir = "{_cni_config()}"
"""
    )
    return cfg


def containerd_socket() -> Path:
    return NODE_DIR / "containerd.sock"


def ctr(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run("ctr", "--address", str(containerd_socket()), "-n", "k8s.io", *args, check=check)


def _kubelet_config(state: dict[str, Any]) -> Path:
    resolv = NODE_DIR / "resolv.conf"
    # Pods with dnsPolicy Default get this file: the cluster's DNS, never the host's resolver.
    resolv.write_text(f"nameserver {NODE_IP}\n")
    cfg = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": state["ports"]["kubelet_healthz"],
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(STATE_DIR / "pki" / "kubelet-ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,  # this kernel mounts cgroup v1
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{containerd_socket()}",
        "clusterDNS": [NODE_IP],
        "clusterDomain": "cluster.local",
        "resolvConf": str(resolv),
        "hairpinMode": "hairpin-veth",
        "podCIDR": POD_CIDR,
        "maxPods": 110,
        "serializeImagePulls": False,
        # Images exist only here (no registry): garbage collection must never remove them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "registerWithTaints": [{"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}],
        "nodeStatusUpdateFrequency": "5s",
        "syncFrequency": "10s",
        "shutdownGracePeriod": "0s",
    }
    path = NODE_DIR / "kubelet.json"
    path.write_text(json.dumps(cfg, indent=2))
    return path


def _kube_proxy_config(state: dict[str, Any], kcfg: Path) -> Path:
    cfg = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kcfg)},
        "mode": "iptables",
        "clusterCIDR": POD_CIDR,
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{state['ports']['proxy_healthz']}",
        "metricsBindAddress": f"127.0.0.1:{state['ports']['proxy_metrics']}",
        # NodePorts only on the node address, never on the machine's own interfaces.
        "nodePortAddresses": [f"{NODE_IP}/32"],
        # Leave the host's conntrack sysctls alone (no CAP_SYS_RESOURCE, and not ours).
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"minSyncPeriod": "0s", "syncPeriod": "30s"},
    }
    path = NODE_DIR / "kube-proxy.json"
    path.write_text(json.dumps(cfg, indent=2))
    return path


def _corefile(kcfg: Path, ready_port: int) -> Path:
    path = NODE_DIR / "Corefile"
    path.write_text(
        f"""cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {NODE_IP}
    errors
    ready 127.0.0.1:{ready_port}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kcfg} local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
# Every other name: no `forward`, so nothing outside the cluster resolves from a pod.
.:53 {{
    bind {NODE_IP}
    errors
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
"""
    )
    return path


COREDNS_RBAC = {
    "apiVersion": "v1",
    "kind": "List",
    "items": [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "mcpops:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["services", "endpoints", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "mcpops:coredns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "mcpops:coredns",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mcpops:coredns"}
            ],
        },
    ],
}


def _wait(what: str, check: Callable[[], bool], deadline: float, procs: dict[str, Any]) -> None:
    while time.monotonic() < deadline:
        for name in NODE_PROCS:
            proc = procs.get(name)
            if proc and not _alive(proc):
                tail = (STATE_DIR / "logs" / f"{name}.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"{name} exited while waiting for {what}; log tail:\n{tail}")
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            if check():
                return
        time.sleep(0.3)
    raise SystemExit(f"real node: timed out waiting for {what}")


def _alive(proc: dict[str, Any]) -> bool:
    """Still the process we started: same pid and same start time (/proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{proc['pid']}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] != "Z" and fields[19] == proc["started"]


def running(state: dict[str, Any]) -> bool:
    procs = state.get("procs", {})
    return all(name in procs and _alive(procs[name]) for name in NODE_PROCS)


def load_images() -> None:
    """Import the locally built images (pause first: every pod needs it) into containerd."""
    images_py = Path(__file__).resolve().parent / "images.py"
    if images_py.exists():
        import sys

        res = subprocess.run(
            [sys.executable, str(images_py), "load", "--address", str(containerd_socket())],
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode != 0:
            # The simulated nodes need no image; tests that need real pods say what is missing.
            last = (res.stderr.strip().splitlines() or ["?"])[-1]
            log(f"images not loaded ({last}); pods on the node cannot start until they are")
    extra = os.environ.get("MCPOPS_NODE_IMAGE_ARCHIVES", "")
    for archive in filter(None, extra.split(":")):
        ctr("images", "import", "--all-platforms", archive)


def up(state: dict[str, Any], start: Start, kubectl: Callable[..., str]) -> None:
    begun = time.monotonic()
    deadline = begun + READY_DEADLINE
    for port in ("kubelet_healthz", "proxy_healthz", "proxy_metrics", "coredns_ready"):
        state["ports"].setdefault(port, free_port())
    server = f"https://{NODE_IP}:{state['ports']['apiserver']}"
    tokens = state["node"]["tokens"]
    kube_bin, dns_bin = (Path(state["node"]["bin"][k]) for k in ("node", "coredns"))
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    _network_up()
    start("containerd", ["containerd", "--config", str(_containerd_config())], state)
    _wait(
        "containerd",
        lambda: ctr("version", check=False).returncode == 0,
        deadline,
        state["procs"],
    )
    load_images()
    kubectl("apply", "-f", "-", input_=json.dumps(COREDNS_RBAC))
    dns_kcfg = kubeconfig(NODE_DIR / "coredns.kubeconfig", server, tokens["coredns"])
    start(
        "coredns",
        [
            str(dns_bin / "coredns"),
            "-conf",
            str(_corefile(dns_kcfg, state["ports"]["coredns_ready"])),
        ],
        state,
    )
    kubelet_kcfg = kubeconfig(NODE_DIR / "kubelet.kubeconfig", server, tokens["kubelet"])
    start(
        "kubelet",
        [
            str(kube_bin / "kubelet"),
            f"--config={_kubelet_config(state)}",
            f"--kubeconfig={kubelet_kcfg}",
            f"--root-dir={NODE_DIR / 'kubelet'}",
            f"--cert-dir={NODE_DIR / 'kubelet' / 'pki'}",
            f"--node-ip={NODE_IP}",
            f"--hostname-override={NODE_NAME}",
            f"--node-labels={NODE_LABEL}",
            "--v=1",
        ],
        state,
    )
    proxy_kcfg = kubeconfig(NODE_DIR / "kube-proxy.kubeconfig", server, tokens["kube-proxy"])
    start(
        "kube-proxy",
        [str(kube_bin / "kube-proxy"), f"--config={_kube_proxy_config(state, proxy_kcfg)}"],
        state,
    )

    def node_ready() -> bool:
        out = kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
        if not out:
            return False
        conds = json.loads(out).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    _wait(f"node {NODE_NAME} Ready", node_ready, deadline, state["procs"])
    _wait(
        "CoreDNS ready",
        lambda: _http_ok(f"http://127.0.0.1:{state['ports']['coredns_ready']}/ready"),
        deadline,
        state["procs"],
    )
    _wait(
        "kube-proxy healthy",
        lambda: _http_ok(f"http://127.0.0.1:{state['ports']['proxy_healthz']}/healthz"),
        deadline,
        state["procs"],
    )
    _guard_rules()  # ahead of the kubelet's and kube-proxy's rules
    state["node"]["up_seconds"] = round(time.monotonic() - begun, 2)
    log(f"{NODE_NAME} Ready in {state['node']['up_seconds']}s ({NODE_IP}, pods {POD_CIDR})")


def _http_ok(url: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(url, timeout=2) as resp:
        return bool(resp.status == 200)


# ---------------------------------------------------------------- teardown


def down(
    state: dict[str, Any],
    stop: Stop,
    kubectl: Callable[..., str] | None,
    *,
    keep_address: bool = False,
) -> None:
    """Stop what up() started and undo every change it made to the machine. Idempotent.
    keep_address: the API server stays up (it listens on NODE_IP), only the node restarts."""
    begun = time.monotonic()
    procs = state.get("procs", {})
    if kubectl is not None and "kubelet" in procs:
        # Let the kubelet tear its pods down (CNI DEL, volumes) while it still can.
        kubectl(
            "delete", "pods", "--all-namespaces", f"--field-selector=spec.nodeName={NODE_NAME}",
            "--grace-period=0", "--force", "--wait=false", check=False,
        )  # fmt: skip
        _wait_no_sandboxes(time.monotonic() + 20)
    for name in ("kube-proxy", "kubelet", "coredns"):
        if name in procs:
            stop(procs.pop(name), time.monotonic() + 10)
    proxy = Path(state.get("node", {}).get("bin", {}).get("node", node_bin())) / "kube-proxy"
    if proxy.exists():
        run(str(proxy), "--cleanup", "--proxy-mode=iptables", check=False)
    if "containerd" in procs:
        _kill_containers()
        stop(procs.pop("containerd"), time.monotonic() + 10)
    _kill_shims()
    teardown(keep_address=keep_address)
    if kubectl is not None:
        kubectl("delete", "node", NODE_NAME, "--ignore-not-found", "--wait=false", check=False)
    log(f"down in {time.monotonic() - begun:.1f}s")


def _wait_no_sandboxes(deadline: float) -> None:
    while time.monotonic() < deadline:
        res = ctr("tasks", "ls", "-q", check=False)
        if res.returncode != 0 or not res.stdout.strip():
            return
        time.sleep(0.3)


def _kill_containers() -> None:
    res = ctr("tasks", "ls", "-q", check=False)
    for task in res.stdout.split() if res.returncode == 0 else []:
        ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
    time.sleep(0.5)  # SIGKILL is delivered asynchronously; the shims reap their children
    for task in res.stdout.split() if res.returncode == 0 else []:
        ctr("tasks", "delete", "-f", task, check=False)


def _kill_shims() -> None:
    """containerd-shim-runc-v2 processes our containerd started (they name its socket)."""
    marker = str(containerd_socket()).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"containerd-shim" in cmdline and marker in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def _mounts_under(prefixes: tuple[str, ...]) -> list[str]:
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if point.startswith(prefixes):
            points.append(point)
    return sorted(set(points), key=len, reverse=True)  # deepest first


def _unmount_all() -> None:
    for point in _mounts_under((str(NODE_DIR) + "/", "/run/netns/cni-")):
        run("umount", "-l", point, check=False)
    for ns in Path("/run/netns").glob("cni-*"):
        with contextlib.suppress(OSError):
            ns.unlink()


def chain_cleanup(listing: str) -> tuple[list[list[str]], list[str]]:
    """From `iptables -S` of one table: the jump rules to delete (from chains that stay) and
    the chains to flush and delete, i.e. everything named with CHAIN_PREFIXES."""
    rules = [line.split() for line in listing.splitlines() if line.strip()]
    ours = [r[1] for r in rules if r[0] == "-N" and r[1].startswith(CHAIN_PREFIXES)]
    jumps = [
        r[1:]
        for r in rules
        if r[0] == "-A" and r[1] not in ours and "-j" in r and r[r.index("-j") + 1] in ours
    ]
    return jumps, ours


def _remove_chains(v6: bool) -> None:
    for table in ("filter", "nat", "mangle"):
        jumps, ours = chain_cleanup(_ipt(table, "-S", v6=v6, check=False))
        for rule in jumps:  # the hooks first, then the chains themselves
            _ipt(table, "-D", *rule, v6=v6, check=False)
        for chain in ours:
            _ipt(table, "-F", chain, v6=v6, check=False)
        for chain in ours:
            _ipt(table, "-X", chain, v6=v6, check=False)


def _remove_cgroups() -> None:
    root = Path("/sys/fs/cgroup")
    for controller in root.iterdir() if root.is_dir() else []:
        for top in ("kubepods", "k8s.io"):
            base = controller / top
            if not base.is_dir():
                continue
            for path in sorted(base.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if path.is_dir():
                    with contextlib.suppress(OSError):
                        path.rmdir()
            with contextlib.suppress(OSError):
                base.rmdir()


def teardown(*, keep_address: bool = False) -> None:
    """Everything the node leaves behind on the machine: mounts, chains, cgroups, links
    (and, unless the control plane still listens there, the node address and the lock)."""
    _unmount_all()
    _remove_chains(v6=False)
    _remove_chains(v6=True)
    _remove_cgroups()
    run("ip", "route", "del", SERVICE_CIDR, "dev", BRIDGE, check=False)
    run("ip", "link", "del", BRIDGE, check=False)
    orig = NODE_DIR / "ip_forward.orig"
    if orig.exists():
        Path("/proc/sys/net/ipv4/ip_forward").write_text(orig.read_text())
    if not _mounts_under((str(NODE_DIR) + "/",)):  # never delete through a live bind mount
        shutil.rmtree(NODE_DIR, ignore_errors=True)
    if keep_address:
        return
    run("ip", "addr", "del", f"{NODE_IP}/32", "dev", "lo", check=False)
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        if json.loads(LOCK.read_text()).get("state_dir") == str(STATE_DIR):
            LOCK.unlink()
