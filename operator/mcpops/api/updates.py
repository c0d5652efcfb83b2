"""MCPServer spec.updates / status.updates: find new versions of a server and roll them out.

The operator looks up the versions a source offers (the tags of the image's repository, or
the releases of the PyPI / npm package a stdio server is launched from), picks the newest
one the policy allows, and pins it: what runs is an exact tag plus digest, or an exact
package version, recorded in status. spec is never written (Argo CD sees no drift).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mcpops.api.base import ApiModel, LocalObjectReference, cel, validations

UpdateSource = Literal["image", "pypi", "npm"]
HOLD_ANNOTATION = "mcpops.dev/hold-updates"
PIN_ANNOTATION = "mcpops.dev/pin-version"


class UpdateWindow(ApiModel):
    """When an update found may start rolling out: a cron schedule opens the window."""

    schedule: str = Field(
        description="Cron expression (five fields, or @daily and the like) that opens the "
        "window, read in timeZone.",
        min_length=1,
        max_length=128,
    )
    time_zone: str | None = Field(
        default=None,
        description="IANA time zone the schedule is read in (default UTC).",
        max_length=64,
    )
    duration_minutes: int = Field(
        default=60, ge=1, le=10080, description="How long the window stays open."
    )


class Updates(ApiModel):
    """Follow new versions of this server automatically."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "[has(self.versions), has(self.tagPattern), has(self.followTag)]"
                ".filter(x, x).size() <= 1",
                "set at most one of versions, tagPattern, followTag",
            ),
            cel(
                "!has(self.followTag) || self.source == 'image'",
                "followTag needs source image",
                field_path=".followTag",
            ),
        )
    }

    source: UpdateSource = Field(
        default="image",
        description="Where versions come from: image (the tags of spec.image's repository), "
        "pypi or npm (the package that spec.command/args launch with uvx pkg@VERSION or "
        "npx pkg@VERSION).",
    )
    versions: str | None = Field(
        default=None,
        description="Semantic version range the new version must satisfy, e.g. '>=1.4 <2', "
        "'^1.4', '~1.4.2', '1.x'; '||' joins alternatives. Default: any release newer than "
        "what runs.",
        max_length=256,
    )
    tag_pattern: str | None = Field(
        default=None,
        description="Regular expression a tag must match in full (source image); the "
        "newest by semantic version among those that parse, else by name.",
        max_length=256,
    )
    follow_tag: str | None = Field(
        default=None,
        description="Follow the digest of this tag (e.g. latest): a new digest is a new version.",
        max_length=128,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$",
    )
    allow_prerelease: bool = Field(
        default=False, description="Consider pre-releases (1.5.0-rc.1) as well."
    )
    check_interval_seconds: int = Field(
        default=3600,
        ge=10,
        le=604800,
        description="How often the source is asked. One lookup per repository or package "
        "per interval serves every MCPServer that uses it.",
    )
    window: UpdateWindow | None = Field(
        default=None,
        description="Roll out only within this maintenance window (found versions are "
        "recorded at any time).",
    )
    registry: str | None = Field(
        default=None,
        description="Base URL of the package index for pypi (where <project>/json answers; "
        "default https://pypi.org/pypi) or npm (default https://registry.npmjs.org).",
        max_length=512,
        pattern=r"^https?://[^\s]+$",
    )
    credentials_secret: LocalObjectReference | None = Field(
        default=None,
        description="A Secret with the credentials for the source: a "
        "kubernetes.io/dockerconfigjson Secret, or keys username and password (or token). "
        "Default for images: the spec's imagePullSecrets.",
    )


class UpdatesStatus(ApiModel):
    """What the update manager found and did."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    current: str | None = Field(
        default=None, description="The version (tag or package version) that is pinned."
    )
    current_digest: str | None = Field(
        default=None, description="The image digest pinned with it (source image)."
    )
    latest_seen: str | None = Field(
        default=None, description="The newest version the policy allows, last time looked."
    )
    latest_digest: str | None = Field(default=None, description="Its digest (source image).")
    last_check: str | None = Field(default=None, description="When the source was last asked.")
    last_error: str | None = Field(default=None, description="Why the last lookup failed.")
    reason: str | None = Field(
        default=None,
        description="Why latestSeen is not rolled out (Held, OutsideWindow, Refused, "
        "Pinned, UpToDate, Rolling).",
    )
    message: str | None = Field(default=None, description="The reason, in a sentence.")
    refused: list[str] | None = Field(
        default=None,
        description="Versions whose rollout failed: never tried again automatically.",
        max_length=64,
    )
