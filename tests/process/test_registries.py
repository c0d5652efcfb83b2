"""Version lookups (machinery.registries) against real registries on loopback: Debian's
docker-registry, pypiserver and verdaccio, with what the test publishes into them."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from registrykit import NpmRegistry, OciRegistry, PyPIIndex, oci_registry

from mcpops.machinery.registries import Lookups, auth_from_secret

pytestmark = [pytest.mark.process, pytest.mark.timeout(300)]


@pytest.fixture
async def lookups() -> AsyncIterator[Lookups]:
    lk = Lookups()
    yield lk
    await lk.close()


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_tags_and_digests_of_an_oci_repository(oci: OciRegistry, lookups: Lookups) -> None:
    d14 = oci.push("mcp/time", "1.4.0")
    oci.push("mcp/time", "1.5.0")
    oci.push("mcp/time", "latest", marker="latest-1")
    now = datetime.now(UTC)
    name = f"{oci.host}/mcp/time"
    found = await lookups.get("image", name, interval=60, tags=("1.4.0",), now=now)
    assert sorted(found.versions) == ["1.4.0", "1.5.0", "latest"]
    assert found.digests == {"1.4.0": d14} and found.error is None
    # within the interval the registry is not asked again: a new tag is not seen yet
    oci.push("mcp/time", "1.6.0")
    before = count("mcpops_update_lookups_total", source="image", outcome="ok")
    again = await lookups.get("image", name, interval=60, tags=("1.4.0",), now=now)
    assert "1.6.0" not in again.versions
    assert count("mcpops_update_lookups_total", source="image", outcome="ok") == before
    later = await lookups.get(
        "image", name, interval=60, tags=("1.4.0",), now=now + timedelta(seconds=61)
    )
    assert "1.6.0" in later.versions


async def test_follow_a_tag_sees_its_new_digest(oci: OciRegistry, lookups: Lookups) -> None:
    first = oci.push("mcp/follow", "latest", marker="one")
    name = f"{oci.host}/mcp/follow"
    now = datetime.now(UTC)
    got = await lookups.get("image", name, interval=60, tags=("latest",), list_tags=False, now=now)
    assert got.digests == {"latest": first}
    second = oci.push("mcp/follow", "latest", marker="two")
    assert second != first
    got = await lookups.get(
        "image",
        name,
        interval=60,
        tags=("latest",),
        list_tags=False,
        now=now + timedelta(seconds=61),
    )
    assert got.digests == {"latest": second}


async def test_a_missing_repository_is_an_error_that_backs_off(
    oci: OciRegistry, lookups: Lookups
) -> None:
    now = datetime.now(UTC)
    name = f"{oci.host}/nope/nothing"
    got = await lookups.get("image", name, interval=3600, now=now)
    assert got.error and "not found" in got.error and got.versions == []
    # the next attempt comes after the backoff (30 s), not the whole interval...
    assert (await lookups.get("image", name, interval=3600, now=now + timedelta(seconds=10))).error
    oci.push("nope/nothing", "1.0.0")
    retry = await lookups.get("image", name, interval=3600, now=now + timedelta(seconds=31))
    assert retry.error is None and retry.versions == ["1.0.0"]


async def test_pypi_releases(pypi: PyPIIndex, lookups: Lookups) -> None:
    pypi.publish("mcp-demo-server", "1.0.0")
    pypi.publish("mcp-demo-server", "1.1.0")
    got = await lookups.get("pypi", "mcp_demo_server", index=pypi.url, interval=60)
    assert got.error is None and sorted(got.versions) == ["1.0.0", "1.1.0"]


async def test_npm_versions_with_etag(npm: NpmRegistry, lookups: Lookups) -> None:
    npm.publish("@demo/mcp-server", "1.0.0")
    npm.publish("@demo/mcp-server", "1.2.0")
    now = datetime.now(UTC)
    got = await lookups.get("npm", "@demo/mcp-server", index=npm.url, interval=60, now=now)
    assert got.error is None and sorted(got.versions) == ["1.0.0", "1.2.0"]
    before = count("mcpops_update_not_modified_total")
    again = await lookups.get(
        "npm", "@demo/mcp-server", index=npm.url, interval=60, now=now + timedelta(seconds=61)
    )
    assert sorted(again.versions) == ["1.0.0", "1.2.0"]
    assert count("mcpops_update_not_modified_total") == before + 1  # answered 304


async def test_credentials_from_a_dockerconfigjson_secret(tmp_path: Path, lookups: Lookups) -> None:
    with oci_registry(tmp_path, auth=("robot", "s3cret")) as reg:
        reg.push("private/srv", "1.0.0")
        name = f"{reg.host}/private/srv"
        refused = await lookups.get("image", name, interval=60)
        assert refused.error and "credentials" in refused.error
        config = {"auths": {reg.host: {"auth": base64.b64encode(b"robot:s3cret").decode()}}}
        secret = {"data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode())}}
        auth = auth_from_secret(
            {"data": {k: v.decode() for k, v in secret["data"].items()}}, reg.host
        )
        assert auth is not None
        got = await lookups.get("image", name, interval=60, auth=auth, tags=("1.0.0",))
        assert got.error is None and got.versions == ["1.0.0"] and "1.0.0" in got.digests
