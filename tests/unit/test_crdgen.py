"""CRDs are generated from the models, structural, described, and not drifted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, Field

from mcpops.api.kinds import KINDS
from mcpops.gen import crds as crdgen

REPO = Path(__file__).resolve().parents[2]


def walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        out.append((path, node))
        for key, sub in (node.get("properties") or {}).items():
            out += walk(sub, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            out += walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            out += walk(node["additionalProperties"], f"{path}{{}}")
    return out


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_schema_is_structural_and_described(kind: Any) -> None:
    schema = crdgen.crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    text = yaml.safe_dump(schema)
    assert "$ref" not in text and "anyOf" not in text and "title" not in schema
    for path, node in walk(schema["properties"]["spec"], "spec"):
        element = path.endswith(("[]", "{}"))  # list items / map values share the field's
        assert element or node.get("description"), f"{path} has no description"
        assert (
            node.get("type")
            or node.get("x-kubernetes-preserve-unknown-fields")
            or node.get("x-kubernetes-int-or-string")
        ), f"{path} has no type"
        for key in ("exclusiveMinimum", "exclusiveMaximum"):
            assert isinstance(node.get(key, True), bool), f"{path}: numeric {key}"


# Short names other operators a platform team may run already use: kubectl picks one of two
# kinds sharing a short name, so `kubectl get <short>` would show the other's objects.
TAKEN_SHORT_NAMES = {
    "mcps",  # kagent / kmcp MCPServer
    "mcpserver",  # ToolHive MCPServer
    "vmcp",  # ToolHive VirtualMCPServer
    "cpol",  # Kyverno ClusterPolicy
    "pol",  # Kyverno Policy
    "cleanpol",  # Kyverno CleanupPolicy
    "ccleanpol",  # Kyverno ClusterCleanupPolicy
    "tj",  # Kubeflow Trainer TrainJob
    "trainjob",
}


def test_short_names_are_ours_and_one_category_lists_every_kind() -> None:
    for kind in KINDS:
        names = crdgen.crd(kind)["spec"]["names"]
        assert not set(names["shortNames"]) & TAKEN_SHORT_NAMES, kind.kind
        assert names["shortNames"], kind.kind
        assert names["categories"] == ["mcpops"], kind.kind


def test_mcpserver_has_cel_rules_columns_and_names() -> None:
    crd = crdgen.crd(next(k for k in KINDS if k.kind == "MCPServer"))
    version = crd["spec"]["versions"][0]
    assert crd["spec"]["names"]["shortNames"] == ["mosrv"]
    assert "mcpops" in crd["spec"]["names"]["categories"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"] for c in version["additionalPrinterColumns"]}
    assert {"Phase", "Active", "Ready", "Age"} <= columns
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = [v["rule"] for v in spec["x-kubernetes-validations"]]
    assert any("stdio" in r for r in rules)
    assert spec["properties"]["transport"]["default"] == "streamable-http"
    assert spec["properties"]["path"]["default"] == "/mcp"
    assert spec["properties"]["port"]["maximum"] == 65535


def test_generated_files_match_the_models() -> None:
    for name, text in crdgen.files().items():
        assert (REPO / "crds" / name).read_text() == text, f"crds/{name} drifted: run make crds"


def test_check_mode_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert crdgen.main(["--out", str(tmp_path)]) == 0
    assert crdgen.main(["--out", str(tmp_path), "--check"]) == 0
    first = next(tmp_path.glob("*.yaml"))
    first.write_text(first.read_text() + "# edited by hand\n")
    (tmp_path / "stale.yaml").write_text("{}")
    assert crdgen.main(["--out", str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert first.name in err and "stale.yaml" in err


def test_undescribed_field_is_refused() -> None:
    class Bad(BaseModel):
        described: int = Field(description="fine")
        bare: int = 0

    with pytest.raises(crdgen.SchemaError, match="bare"):
        crdgen.spec_schema(Bad, "Bad")


def test_recursive_model_is_refused() -> None:
    class Node(BaseModel):
        child: Node | None = Field(default=None, description="recursion")

    with pytest.raises(crdgen.SchemaError, match="recursive"):
        crdgen.spec_schema(Node, "Node")


def test_gt_and_lt_become_openapi_exclusive_bounds() -> None:
    class Limits(BaseModel):
        positive: float = Field(gt=0, description="gt")
        below_one: float = Field(lt=1, description="lt")
        both: float = Field(ge=0, gt=-1, le=10, lt=10, description="ge wins below, lt on a tie")
        inclusive: int = Field(ge=1, le=5, description="untouched")

    props = crdgen.spec_schema(Limits, "Limits")["properties"]
    assert props["positive"] == {"type": "number", "description": "gt", "minimum": 0,
                                 "exclusiveMinimum": True}  # fmt: skip
    assert props["below_one"]["maximum"] == 1 and props["below_one"]["exclusiveMaximum"] is True
    assert "exclusiveMinimum" not in props["below_one"]
    both = props["both"]
    assert both["minimum"] == 0 and "exclusiveMinimum" not in both
    assert both["maximum"] == 10 and both["exclusiveMaximum"] is True
    assert props["inclusive"] == {"type": "integer", "description": "untouched", "minimum": 1,
                                  "maximum": 5}  # fmt: skip
