"""The reference docs are generated from the same CRDs and metrics the operator serves."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import Field

from mcpops.api.base import ApiModel, cel, validations
from mcpops.api.kinds import KINDS, Kind
from mcpops.gen import crds as crdgen
from mcpops.gen import docs as docgen

REPO = Path(__file__).resolve().parents[2]


def crd_fields(node: dict[str, Any], path: str) -> list[str]:
    """Every named field under node, with [] for list items and {} for map values."""
    out = []
    for name, sub in (node.get("properties") or {}).items():
        out.append(f"{path}.{name}")
        out += crd_fields(sub, f"{path}.{name}")
    for key, suffix in (("items", "[]"), ("additionalProperties", "{}")):
        if isinstance(node.get(key), dict):
            out += crd_fields(node[key], path + suffix)
    return out


def rows(page: str) -> dict[str, list[str]]:
    """Field table rows of a page: path -> [type, default, validation, description]."""
    out = {}
    for line in page.splitlines():
        m = re.match(r"^\| `((?:spec|status)[^`]*)` \| (.*) \|$", line)
        if m:
            out[m.group(1)] = [c.strip() for c in re.split(r"(?<!\\)\|", m.group(2))]
    return out


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_crd_field_is_documented_once(kind: Kind) -> None:
    schema = crdgen.crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    page = docgen.kind_page(kind)
    table = rows(page)
    expected = crd_fields(schema["properties"]["spec"], "spec") + crd_fields(
        schema["properties"]["status"], "status"
    )
    assert sorted(table) == sorted(expected)
    assert page.count("\n| `spec.") == len([f for f in expected if f.startswith("spec.")])
    for path, (type_, _, _, description) in table.items():
        assert type_ and description, path
    for column in crdgen.crd(kind)["spec"]["versions"][0]["additionalPrinterColumns"]:
        assert f"| {column['name']} |" in page


def test_types_defaults_and_validation_come_from_the_crd() -> None:
    table = rows(docgen.kind_page(next(k for k in KINDS if k.kind == "MCPServer")))
    type_, default, checks, _ = table["spec.transport"]
    assert (type_, default) == ("string", "`streamable-http`")
    assert "one of `streamable-http`, `sse`, `stdio`" in checks
    assert table["spec.port"][:3] == ["integer", "`8080`", "1 to 65535"]
    assert table["spec.image"][2].startswith("required; 1 to 512 characters")
    assert table["spec.env"][0] == "[]object"
    assert "each item: rule: set value or valueFrom, not both" in table["spec.env"][2]
    assert table["spec.podLabels"][0] == "map[string]string"
    # A pipe inside a CEL rule must not split the table cell.
    assert "\\|\\|" in docgen.kind_page(next(k for k in KINDS if k.kind == "MCPServer"))


class _Rules(ApiModel):
    """Which objects to delete."""

    older_than: str = Field(description="Age, e.g. 7d.", pattern=r"^[0-9]+[smhd]$")
    keep: int = Field(default=3, ge=0, description="Newest objects kept.")


class _FakeSpec(ApiModel):
    """A policy."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(cel("self.mode != 'x'", "mode must not be x"))
    }

    mode: str = Field(default="DryRun", description="DryRun or Enforce.")
    rules: list[_Rules] = Field(description="What to delete.", min_length=1)


class _FakeStatus(ApiModel):
    """Observed."""

    deleted: int | None = Field(default=None, description="Deleted in the last run.")


def test_a_new_kind_gets_a_page_without_changes_here(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = Kind(
        kind="Tidy",
        plural="tidies",
        short_names=("td",),
        spec=_FakeSpec,
        status=_FakeStatus,
        description="Tidy deletes things.",
        printer_columns=({"name": "Mode", "type": "string", "jsonPath": ".spec.mode"},),
    )
    monkeypatch.setattr(docgen, "KINDS", (*KINDS, fake))
    assert docgen.main(["--out", str(tmp_path)]) == 0
    page = (tmp_path / "tidy.md").read_text()
    table = rows(page)
    assert table["spec.rules[].olderThan"][2] == "required; matches `^[0-9]+[smhd]$`"
    assert table["spec.rules[].keep"][1:3] == ["`3`", "≥ 0"]
    assert table["spec.rules"][2] == "required; ≥ 1 items"
    assert "status.deleted" in table
    assert "mode must not be x" in page
    assert "[Tidy](tidy.md)" in (tmp_path / "README.md").read_text()


def test_metrics_page_lists_every_registered_operator_metric() -> None:
    page = docgen.metrics_page()
    registered = {m.name for m in REGISTRY.collect() if m.name.startswith("mcpops_")}
    documented = set(re.findall(r"^\| `(mcpops_[a-z_]+)` \|", page, re.M))
    assert registered == documented
    assert (
        "| `mcpops_api_requests` | counter | `verb`, `resource`, `code` | "
        "`mcpops_api_requests_total` |" in page
    )
    assert "| `mcpops_leader` | gauge | — | `mcpops_leader` |" in page
    assert "`mcpops_reconcile_duration_seconds_bucket`" in page


def test_check_reports_changed_missing_and_stale_pages(tmp_path: Path) -> None:
    assert docgen.main(["--out", str(tmp_path), "--check"]) == 1  # nothing written yet
    assert docgen.main(["--out", str(tmp_path)]) == 0
    assert docgen.main(["--out", str(tmp_path), "--check"]) == 0
    page = tmp_path / "metrics.md"
    page.write_text(page.read_text() + "edited\n")
    (tmp_path / "gone.md").write_text("old kind\n")
    assert docgen.main(["--out", str(tmp_path), "--check"]) == 1
    assert page.read_text().endswith("edited\n")  # --check changes nothing
    assert docgen.main(["--out", str(tmp_path)]) == 0
    assert not (tmp_path / "gone.md").exists()
    assert docgen.main(["--out", str(tmp_path), "--check"]) == 0


def test_committed_reference_is_current() -> None:
    committed = {p.name: p.read_text() for p in (REPO / "docs" / "reference").glob("*.md")}
    assert committed == docgen.pages(), "run `make docs`"
