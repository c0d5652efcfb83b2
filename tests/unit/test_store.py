"""The watch caches: children kept packed and read back as copies; the index of what each
parent reads is always what a scan of every parent finds."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mcpops.machinery.store import Ref, Store
from mcpops.objects.bodies import Body

NAMESPACES = ("a", "b")
NAMES = ("s1", "s2", "s3")
REFS = (("Secret", "creds"), ("ConfigMap", "conf"), ("Secret", "other"))


def body(namespace: str, name: str, rv: int, reads: frozenset[Ref]) -> Body:
    return {
        "metadata": {"namespace": namespace, "name": name, "resourceVersion": str(rv)},
        "spec": {"reads": sorted(reads)},
    }


def reads_of(kind: str, body: Body) -> list[Ref]:
    return [(r[0], r[1]) for r in body["spec"]["reads"]]


# One step: put a parent (namespace, name, resourceVersion, what it reads) or drop one.
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("put"),
            st.sampled_from(NAMESPACES),
            st.sampled_from(NAMES),
            st.integers(1, 6),
            st.frozensets(st.sampled_from(REFS)),
        ),
        st.tuples(st.just("drop"), st.sampled_from(NAMESPACES), st.sampled_from(NAMES)),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_readers_are_what_a_scan_of_every_parent_finds(seq: list[Any]) -> None:
    store = Store(reads=reads_of)
    for step in seq:
        if step[0] == "put":
            _, ns, name, rv, refs = step
            store.put_parent("MCPServer", body(ns, name, rv, refs))
        else:
            store.drop_parent("MCPServer", (step[1], step[2]))
    parents = store.parents.get("MCPServer", {})
    for ns in NAMESPACES:
        for ref in REFS:
            scanned = sorted(k for k, b in parents.items() if k[0] == ns and ref in reads_of("", b))
            assert store.readers("MCPServer", ns, ref) == scanned
    for key, b in parents.items():
        assert store.reading("MCPServer", key) == frozenset(reads_of("", b))
    # Nothing is kept for what no parent reads any more.
    assert all(store._readers.values())


def test_an_older_body_does_not_change_what_is_read() -> None:
    store = Store(reads=reads_of)
    store.put_parent("MCPServer", body("a", "s1", 5, frozenset({("Secret", "creds")})))
    store.put_parent("MCPServer", body("a", "s1", 3, frozenset({("ConfigMap", "conf")})))
    assert store.readers("MCPServer", "a", ("Secret", "creds")) == [("a", "s1")]
    assert store.readers("MCPServer", "a", ("ConfigMap", "conf")) == []
    assert store.readers("OptimizationJob", "a", ("Secret", "creds")) == []


def child(name: str, rv: str, replicas: int) -> Body:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": "a",
            "resourceVersion": rv,
            "managedFields": [{"manager": "mcpops"}],
        },
        "spec": {"replicas": replicas},
    }


def test_a_child_is_read_back_as_filed_and_a_copy_each_time() -> None:
    store = Store()
    store.put_child("Deployment", ("a", "s1"), child("d", "5", 2))
    read = store.child("Deployment", ("a", "s1"), "d")
    assert read is not None and read["spec"] == {"replicas": 2}
    assert "managedFields" not in read["metadata"]
    read["spec"]["replicas"] = 9  # a caller changing what it read changes nothing kept
    assert store.children_of("Deployment", ("a", "s1"))["d"]["spec"] == {"replicas": 2}
    assert store.has_children("Deployment", ("a", "s1"))
    assert not store.has_children("Deployment", ("a", "s2"))


def test_an_older_child_does_not_replace_a_newer_one() -> None:
    store = Store()
    store.put_child("Deployment", ("a", "s1"), child("d", "7", 3))
    store.put_child("Deployment", ("a", "s1"), child("d", "6", 1))  # the watch, late
    assert store.child("Deployment", ("a", "s1"), "d") == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "a", "resourceVersion": "7"},
        "spec": {"replicas": 3},
    }
    store.drop_child("Deployment", ("a", "s1"), "d")
    assert store.child("Deployment", ("a", "s1"), "d") is None
    assert not store.has_children("Deployment", ("a", "s1"))
