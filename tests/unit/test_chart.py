"""The Helm chart, rendered by the real helm binary (no cluster).

helm comes from MCPOPS_HELM, else from `make -s controlplane-env` (the cached
build, `make helm`). Skipped only when MCPOPS_HELM is unset and that build is
absent; a set MCPOPS_HELM that points nowhere is a failure.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "mcpops"
RELEASE = "rel"
NAMESPACE = "ops"
LABEL_KEYS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/version",
    "helm.sh/chart",
}
# Pod Security Standard "restricted": the volume types it allows.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=60, check=False)


class StrictLoader(yaml.SafeLoader):
    """Refuses duplicate mapping keys (the API server's strict decoding does too)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        duplicates = {k for k in keys if keys.count(k) > 1}
        if duplicates:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate keys {duplicates}", node.start_mark
            )
        return super().construct_mapping(node, deep=deep)


def render(helm: str, *args: str) -> list[dict[str, Any]]:
    res = run_helm(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)
    assert res.returncode == 0, res.stderr
    return [doc for doc in yaml.load_all(res.stdout, Loader=StrictLoader) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def the(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def container_env(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def rules_of(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for doc in docs:
        if doc["kind"] in {"Role", "ClusterRole"}:
            where = (
                f"{doc['kind']}/{doc['metadata'].get('namespace', '')}/{doc['metadata']['name']}"
            )
            out += [(where, rule) for rule in doc.get("rules", [])]
    return out


def verbs_for(
    docs: list[dict[str, Any]], group: str, resource: str, kind: str | None = None
) -> set[str]:
    verbs: set[str] = set()
    for where, rule in rules_of(docs):
        if kind and not where.startswith(kind + "/"):
            continue
        if group in rule.get("apiGroups", []) and resource in rule.get("resources", []):
            verbs |= set(rule["verbs"])
    return verbs


# The renders every structural check below runs over.
VARIANTS: dict[str, tuple[str, ...]] = {
    "defaults": (),
    "replicas-2": ("--set", "replicaCount=2"),
    "namespaces": ("--set", "watchNamespaces={a,b}"),
    "ha-namespaces": ("--set", "replicaCount=3", "--set", "watchNamespaces={a}"),
    "servicemonitor": ("--set", "metrics.serviceMonitor.enabled=true"),
    "observability": (
        "--set",
        "metrics.prometheusRule.enabled=true,metrics.grafanaDashboard.enabled=true",
    ),
    "agent-server": ("--set", "agentServer.enabled=true,agentServer.namespace=optim"),
}
AGENT = "agent-server"  # app.kubernetes.io/component of the agent server's objects


def operator_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The operator's own objects (not the agent server's, which has its own rights)."""
    return [
        d
        for d in docs
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") != AGENT
    ]


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def rendered(request: pytest.FixtureRequest, helm: str) -> list[dict[str, Any]]:
    return render(helm, *VARIANTS[request.param])


# ---------------------------------------------------------------- lint, schema


def test_lint_strict(helm: str) -> None:
    res = run_helm(helm, "lint", "--strict", str(CHART))
    assert res.returncode == 0, res.stdout + res.stderr
    res = run_helm(helm, "lint", "--strict", str(CHART), "--set", "replicaCount=2,logLevel=DEBUG")
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("replicaCount: 0\n", "replicaCount"),
        ("replicaCount: two\n", "replicaCount"),
        ("unknownKey: 1\n", "unknownKey"),
        ("image: {repository: x, pullPolicy: Sometimes}\n", "pullPolicy"),
        ("image: {tag: v1, registry: docker.io}\n", "registry"),
        ("logLevel: LOUD\n", "logLevel"),
        ("watchNamespaces: [Not_A_Namespace]\n", "watchNamespaces"),
        ("watchNamespaces: [a, a]\n", "watchNamespaces"),
        ("resources: {limits: null}\n", "limits"),
        ("resources: {requests: {cpu: lots}}\n", "cpu"),
        ("metrics: {port: 80}\n", "port"),
        ("serviceAccount: {create: true, token: x}\n", "token"),
        ("podSecurityContext: {runAsUser: 0}\n", "runAsUser"),
        ("podSecurityContext: {runAsNonRoot: false}\n", "runAsNonRoot"),
        ("podSecurityContext: {privileged: true}\n", "privileged"),
        ("affinity: {nodeAfinity: {}}\n", "nodeAfinity"),
        ("tolerations: [{key: a, operator: Maybe}]\n", "operator"),
        ("topologySpreadConstraints: [{maxSkew: 1}]\n", "topologyKey"),
        (
            "cleanup: {extraRules: [{apiGroups: [''], resources: ['*'], verbs: [delete]}]}\n",
            "resources",
        ),
        (
            "cleanup: {extraRules: [{apiGroups: [''], resources: [pvcs], verbs: [escalate]}]}\n",
            "verbs",
        ),
    ],
)
def test_schema_refuses_invalid_values(
    helm: str, tmp_path: Path, values: str, message: str
) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(values)
    res = run_helm(helm, "template", RELEASE, str(CHART), "-f", str(path))
    assert res.returncode != 0, f"accepted invalid values {values!r}"
    assert "schema" in res.stderr.lower() or "at '" in res.stderr, res.stderr
    assert message in res.stderr, res.stderr


def test_serviceaccount_name_required_without_create(helm: str) -> None:
    res = run_helm(helm, "template", RELEASE, str(CHART), "--set", "serviceAccount.create=false")
    assert res.returncode != 0
    assert "serviceAccount.name is required" in res.stderr
    docs = render(helm, "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=ops")
    assert not by_kind(docs, "ServiceAccount")
    assert the(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "ops"


def test_chart_crds_equal_generated_crds() -> None:
    ours = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    generated = {p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml")}
    assert generated, "crds/ is empty"
    assert ours.keys() == generated.keys(), "run `make crds`"
    for name, text in generated.items():
        assert ours[name] == text, f"charts/mcpops/crds/{name} differs from crds/: run `make crds`"


# ---------------------------------------------------------------- defaults


def test_defaults(helm: str) -> None:
    docs = render(helm)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
        ]
    )
    dep = the(docs, "Deployment")
    assert dep["metadata"]["namespace"] == NAMESPACE
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"]["type"] == "RollingUpdate"
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    image = f"ghcr.io/mcpops/mcpops:{chart['appVersion']}"
    assert container["image"] == image
    assert container["command"] + container["args"] == ["mcpops", "run"]
    env = container_env(dep)
    assert env["MCPOPS_IMAGE"] == image
    assert env["MCPOPS_LOG_LEVEL"] == "INFO"
    assert env["MCPOPS_METRICS_PORT"] == "8080"
    assert "MCPOPS_NAMESPACES" not in env
    # Even one replica elects itself: during an update old and new pods overlap.
    assert env["MCPOPS_LEADER_ELECT"] == "true"
    assert env["MCPOPS_LEASE_NAME"] == f"{RELEASE}-mcpops"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http-metrics": 8080}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}
    assert {"mountPath": "/tmp", "name": "tmp"} in container["volumeMounts"]
    assert {v["name"]: v for v in pod["volumes"]}["tmp"]["emptyDir"] is not None
    sa = the(docs, "ServiceAccount")
    assert pod["serviceAccountName"] == sa["metadata"]["name"] == f"{RELEASE}-mcpops"

    svc = the(docs, "Service")
    assert svc["spec"]["ports"][0]["port"] == 8080
    assert svc["spec"]["ports"][0]["targetPort"] == "http-metrics"
    selector = dep["spec"]["selector"]["matchLabels"]
    assert svc["spec"]["selector"] == selector
    assert selector.items() <= dep["spec"]["template"]["metadata"]["labels"].items()

    # Cluster-wide: one ClusterRole holds everything.
    (binding,) = by_kind(docs, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{RELEASE}-mcpops", "namespace": NAMESPACE}
    ]
    assert verbs_for(docs, "apps", "deployments", "ClusterRole") >= {"create", "patch", "delete"}
    (lease_role,) = by_kind(docs, "Role")
    assert lease_role["metadata"]["namespace"] == NAMESPACE
    by_name = {
        tuple(rule.get("resourceNames", [])): set(rule["verbs"])
        for rule in lease_role["rules"]
        if rule["resources"] == ["leases"]
    }
    # Create is unrestricted (it cannot be limited by name); everything else only on ours.
    assert by_name == {(): {"create"}, (f"{RELEASE}-mcpops",): {"get", "update"}}
    assert not verbs_for(docs, "coordination.k8s.io", "leases", "ClusterRole")


def test_values_reach_the_pod(helm: str) -> None:
    digest = "sha256:" + "a" * 64
    docs = render(
        helm,
        "--set",
        f"image.repository=registry.example/mcpops,image.digest={digest},image.pullPolicy=Always",
        "--set",
        "logLevel=DEBUG,metrics.port=9090,priorityClassName=critical",
        "--set",
        "podLabels.team=ml,podAnnotations.note=x,nodeSelector.pool=ops",
        "--set",
        "imagePullSecrets[0].name=regcred,serviceAccount.annotations.iam=role",
    )
    dep = the(docs, "Deployment")
    pod = dep["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    image = f"registry.example/mcpops@{digest}"
    assert container["image"] == container_env(dep)["MCPOPS_IMAGE"] == image
    assert container["imagePullPolicy"] == "Always"
    assert container_env(dep)["MCPOPS_LOG_LEVEL"] == "DEBUG"
    assert container_env(dep)["MCPOPS_METRICS_PORT"] == "9090"
    assert container["ports"][0]["containerPort"] == 9090
    assert the(docs, "Service")["spec"]["ports"][0]["port"] == 9090
    assert pod["metadata"]["labels"]["team"] == "ml"
    assert pod["metadata"]["annotations"] == {"note": "x"}
    assert pod["spec"]["nodeSelector"] == {"pool": "ops"}
    assert pod["spec"]["priorityClassName"] == "critical"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert the(docs, "ServiceAccount")["metadata"]["annotations"] == {"iam": "role"}


AFFINITY = {
    "podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 100,
                "podAffinityTerm": {
                    "topologyKey": "kubernetes.io/hostname",
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "mcpops"}},
                },
            }
        ]
    }
}


def test_scheduling_values_reach_the_pod(helm: str) -> None:
    docs = render(
        helm,
        "--set-json",
        "affinity=" + json.dumps(AFFINITY),
        "--set",
        "tolerations[0].key=dedicated,tolerations[0].operator=Exists,"
        "tolerations[0].effect=NoSchedule",
        "--set",
        "topologySpreadConstraints[0].maxSkew=1,"
        "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone,"
        "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
    )
    pod = the(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["affinity"] == AFFINITY
    assert pod["tolerations"] == [
        {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}
    ]
    (spread,) = pod["topologySpreadConstraints"]
    # Without a labelSelector a constraint counts the operator's own pods.
    assert (
        spread["labelSelector"]["matchLabels"]
        == the(docs, "Deployment")["spec"]["selector"]["matchLabels"]
    )
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"


def test_pod_security_context_ids_can_be_left_to_the_platform(helm: str) -> None:
    # OpenShift's restricted SCC assigns the UID: the chart must be able to leave it out
    # while runAsNonRoot and seccomp stay.
    docs = render(
        helm,
        "--set",
        "podSecurityContext.runAsUser=null,podSecurityContext.runAsGroup=null",
        "--set",
        "podSecurityContext.fsGroup=null",
    )
    psc = the(docs, "Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert psc == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    docs = render(helm, "--set", "podSecurityContext.runAsUser=1001")
    psc = the(docs, "Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert psc["runAsUser"] == 1001 and psc["runAsNonRoot"] is True


def test_pod_labels_cannot_break_the_selector(helm: str) -> None:
    docs = render(helm, "--set", "podLabels.app\\.kubernetes\\.io/instance=other")
    dep = the(docs, "Deployment")
    assert dep["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE


# ---------------------------------------------------------------- HA, namespaces


def test_replicas_share_one_lease(helm: str) -> None:
    docs = render(helm, "--set", "replicaCount=2")
    dep = the(docs, "Deployment")
    assert dep["spec"]["replicas"] == 2
    env = container_env(dep)
    assert env["MCPOPS_LEADER_ELECT"] == "true"
    assert env["MCPOPS_LEASE_NAME"] == f"{RELEASE}-mcpops"
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}


def test_watch_namespaces_uses_roles(helm: str) -> None:
    docs = render(helm, "--set", "watchNamespaces={a,b}", "--set", "replicaCount=2")
    dep = the(docs, "Deployment")
    env = container_env(dep)
    assert env["MCPOPS_NAMESPACES"] == "a,b"

    # The ClusterRole keeps only what is cluster-scoped.
    cluster_role = the(docs, "ClusterRole")
    groups = {
        (g, r)
        for rule in cluster_role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }
    assert groups == {("apiextensions.k8s.io", "customresourcedefinitions"), ("", "namespaces")}

    roles = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in by_kind(docs, "Role")}
    assert set(roles) == {
        ("a", f"{RELEASE}-mcpops"),
        ("b", f"{RELEASE}-mcpops"),
        (NAMESPACE, f"{RELEASE}-mcpops-leader-election"),
    }
    for ns in ("a", "b"):
        only = [roles[(ns, f"{RELEASE}-mcpops")]]
        assert verbs_for(only, "mcpops.dev", "mcpservers/status") == {"patch"}
        assert verbs_for(only, "apps", "deployments") >= {"create", "patch", "delete"}
    bindings = {
        (d["metadata"]["namespace"], d["metadata"]["name"]) for d in by_kind(docs, "RoleBinding")
    }
    assert bindings == set(roles)
    for binding in by_kind(docs, "RoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": f"{RELEASE}-mcpops", "namespace": NAMESPACE}
        ]
        assert binding["roleRef"]["kind"] == "Role"


# ---------------------------------------------------------------- every variant


def test_rbac_has_no_wildcards_and_least_privilege(rendered: list[dict[str, Any]]) -> None:
    rules = rules_of(rendered)
    every = rendered
    rendered = operator_docs(every)
    assert rules
    for where, rule in rules:
        for key in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
            for value in rule.get(key, []):
                assert "*" not in value, f"{where}: wildcard in {key}: {rule}"
        assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule["verbs"])
        if "secrets" in rule["resources"]:  # read for a hash of what MCPServer pods read,
            # and created once per MCPServer (its session key); never read back or changed
            assert set(rule["verbs"]) == {"list", "watch", "create"}, f"{where}: secrets"
        assert "pods/exec" not in rule["resources"]
        assert "pods/eviction" not in rule["resources"]
    parents = verbs_for(rendered, "mcpops.dev", "mcpservers")
    assert parents == {"get", "list", "watch", "patch"}
    for kind in ("mcpservers", "optimizationjobs", "cleanuppolicies"):
        # CleanupPolicy deletes finished OptimizationJobs; nothing else of ours is deleted.
        extra = {"delete"} if kind == "optimizationjobs" else set()
        assert verbs_for(rendered, "mcpops.dev", kind) == parents | extra
        assert verbs_for(rendered, "mcpops.dev", f"{kind}/status") == {"patch"}
    assert verbs_for(rendered, "", "pods") == {"get", "list", "watch", "delete"}
    assert verbs_for(rendered, "apiextensions.k8s.io", "customresourcedefinitions") == {
        "get",
        "list",
        "watch",
    }
    assert verbs_for(rendered, "", "secrets") == {"list", "watch", "create"}
    # spec.expose: the route or Ingress is the operator's child; their status is not its own.
    child = {"get", "list", "watch", "create", "patch", "delete"}
    assert verbs_for(rendered, "gateway.networking.k8s.io", "httproutes") == child
    assert verbs_for(rendered, "networking.k8s.io", "ingresses") == child
    assert verbs_for(rendered, "networking.k8s.io", "networkpolicies") == child  # spec.network
    assert verbs_for(rendered, "gateway.networking.k8s.io", "httproutes/status") == set()
    # The solver Roles the operator creates may only grant what it holds itself.
    assert verbs_for(rendered, "", "configmaps") >= {"create", "patch"}


def test_every_pod_spec_is_restricted(rendered: list[dict[str, Any]]) -> None:
    pods = [d["spec"]["template"]["spec"] for d in rendered if d["kind"] in {"Deployment", "Job"}]
    assert pods
    for pod in pods:
        assert not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"))
        psc = pod.get("securityContext", {})
        assert psc.get("runAsNonRoot") is True
        assert psc.get("runAsUser") == 65532
        assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault"
        for volume in pod.get("volumes", []):
            types = set(volume) - {"name"}
            assert types <= RESTRICTED_VOLUMES, f"volume {volume} not allowed by restricted"
        for c in pod["containers"] + pod.get("initContainers", []):
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, c["name"]
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], c["name"]
            assert not sc.get("capabilities", {}).get("add"), c["name"]
            assert sc.get("readOnlyRootFilesystem") is True, c["name"]
            assert sc.get("privileged") is not True
            assert sc.get("runAsUser", psc.get("runAsUser")) != 0
            assert sc.get("seccompProfile", psc.get("seccompProfile"))["type"] == "RuntimeDefault"
            resources = c.get("resources", {})
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(part, {})), (c["name"], part)
            assert not any(p.get("hostPort") for p in c.get("ports", []))


def test_every_object_is_labelled(rendered: list[dict[str, Any]]) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    for doc in rendered:
        labels = doc["metadata"].get("labels", {})
        missing = LABEL_KEYS - set(labels)
        assert not missing, f"{doc['kind']}/{doc['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/part-of"] == "mcpops"
        assert labels["app.kubernetes.io/version"] == chart["appVersion"]
        assert labels["helm.sh/chart"] == f"mcpops-{chart['version']}"
        # The operator follows children labelled managed-by=mcpops; it must not take its own
        # Deployment for one of them.
        if doc["kind"] == "Deployment":
            tmpl = doc["spec"]["template"]["metadata"]["labels"]
            assert tmpl["app.kubernetes.io/managed-by"] != "mcpops"


def test_servicemonitor(helm: str) -> None:
    docs = render(helm, "--set", "metrics.serviceMonitor.enabled=true")
    sm = the(docs, "ServiceMonitor")
    svc = the(docs, "Service")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"]
    res = run_helm(
        helm,
        "template",
        RELEASE,
        str(CHART),
        "--set",
        "metrics.serviceMonitor.enabled=true,metrics.service.enabled=false",
    )
    assert res.returncode != 0
    assert "needs metrics.service.enabled" in res.stderr


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["version"] == "0.1.0"
    assert chart["appVersion"] == "0.1.0"
    for name in ("values.yaml", "values.schema.json", ".helmignore", "README.md"):
        assert (CHART / name).is_file(), name
    assert (CHART / "templates" / "NOTES.txt").is_file()


def test_cleanup_extra_rules_reach_the_operator(helm: str) -> None:
    rule = (
        "cleanup.extraRules[0].apiGroups[0]=,"
        "cleanup.extraRules[0].resources[0]=persistentvolumeclaims"
    )
    for args in ((), ("--set", "watchNamespaces={a}")):
        docs = render(
            helm,
            "--set",
            rule,
            "--set",
            "cleanup.extraRules[0].verbs={list,delete}",
            *args,
        )
        kind = "Role" if args else "ClusterRole"
        assert verbs_for(docs, "", "persistentvolumeclaims", kind) == {"list", "delete"}


def test_agent_server_acts_in_one_namespace_with_least_privilege(helm: str) -> None:
    assert not [
        d
        for d in render(helm)
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == AGENT
    ]
    docs = render(
        helm, "--set", "agentServer.enabled=true,agentServer.namespace=optim",
        "--set", "agentServer.solverPodAnnotations.team=planning",
    )  # fmt: skip
    agent = [d for d in docs if d not in operator_docs(docs)]
    kinds = sorted(d["kind"] for d in agent)
    assert kinds == ["Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"]
    role = the(agent, "Role")
    assert role["metadata"]["namespace"] == "optim"
    assert verbs_for(agent, "mcpops.dev", "optimizationjobs") == {"get", "list", "create", "patch"}
    assert verbs_for(agent, "", "configmaps") == {"get", "create"}
    assert {(tuple(r["apiGroups"]), tuple(r["resources"])) for _, r in rules_of(agent)} == {
        (("mcpops.dev",), ("optimizationjobs",)),
        (("",), ("configmaps",)),
    }
    binding = the(agent, "RoleBinding")
    sa = the(agent, "ServiceAccount")
    assert binding["metadata"]["namespace"] == "optim"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}
    ]
    deployment = the(agent, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    (container,) = pod["containers"]
    assert container["command"] == ["mcpops"] and container["args"][0] == "mcp-server"
    assert "--namespace=optim" in container["args"]
    assert "--pod-annotation=team=planning" in container["args"]
    assert (
        container["image"]
        == the(operator_docs(docs), "Deployment")["spec"]["template"]["spec"]["containers"][0][
            "image"
        ]
    )
    # Its pods are not the operator's: neither the operator's Deployment nor its metrics
    # Service selects them.
    selector = deployment["spec"]["selector"]["matchLabels"]
    operator_selector = the(operator_docs(docs), "Deployment")["spec"]["selector"]["matchLabels"]
    assert not operator_selector.items() <= pod_labels(deployment).items()
    assert selector.items() <= pod_labels(deployment).items()
    service = the(agent, "Service")
    assert service["spec"]["selector"] == selector
    assert service["spec"]["ports"][0]["targetPort"] == "http-mcp"


def pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def test_agent_server_values_are_checked(helm: str) -> None:
    for bad in (
        "agentServer.port=80",
        "agentServer.maxThreads=0",
        "agentServer.bogus=1",
        "agentServer.namespace=Not_A_Namespace",
    ):
        res = run_helm(
            helm, "template", RELEASE, str(CHART), "--set", f"agentServer.enabled=true,{bad}"
        )
        assert res.returncode != 0, bad
