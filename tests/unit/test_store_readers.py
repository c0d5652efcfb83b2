"""The store's index of what each parent reads: always what a scan of every parent finds."""

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
    # Nothing is kept for what no parent reads any more.
    assert all(store._readers.values())


def test_an_older_body_does_not_change_what_is_read() -> None:
    store = Store(reads=reads_of)
    store.put_parent("MCPServer", body("a", "s1", 5, frozenset({("Secret", "creds")})))
    store.put_parent("MCPServer", body("a", "s1", 3, frozenset({("ConfigMap", "conf")})))
    assert store.readers("MCPServer", "a", ("Secret", "creds")) == [("a", "s1")]
    assert store.readers("MCPServer", "a", ("ConfigMap", "conf")) == []
    assert store.readers("OptimizationJob", "a", ("Secret", "creds")) == []
