"""A small JSON path subset, implemented here (no dependency).

Grammar: ``$`` followed by any number of steps:

- ``.name`` (a name of letters, digits, ``_`` and ``-``, not starting with a digit or ``-``)
- ``['name']`` or ``["name"]`` (any key without quotes or backslashes)
- ``[n]`` (an array index; negative counts from the end)
- ``.*`` or ``[*]`` (every member of an object or element of an array)

A path without a wildcard selects at most one value; a path with one selects
the list of all matches (in document order). Filters, slices, unions and
recursive descent are not supported. `mcpops.api.testsuite.JSON_PATH_PATTERN`
accepts exactly this grammar, so the API server refuses anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final


class JsonPathError(ValueError):
    """The path is not in the supported subset."""


class _Wildcard:
    def __repr__(self) -> str:
        return "*"


WILDCARD: Final = _Wildcard()

Step = str | int | _Wildcard

_TOKEN = re.compile(
    r"\.(?P<name>[A-Za-z_][A-Za-z0-9_-]*)"
    r"|\.(?P<dotstar>\*)"
    r"|\[(?:(?P<star>\*)|(?P<index>-?[0-9]+)|'(?P<sq>[^'\\]*)'|\"(?P<dq>[^\"\\]*)\")\]"
)


@dataclass(frozen=True)
class JsonPath:
    text: str
    steps: tuple[Step, ...]

    @property
    def definite(self) -> bool:
        """True when the path selects at most one value (it has no wildcard)."""
        return not any(isinstance(s, _Wildcard) for s in self.steps)


def parse(text: str) -> JsonPath:
    if not text.startswith("$"):
        raise JsonPathError(f"JSON path {text!r} must start with $")
    steps: list[Step] = []
    pos = 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise JsonPathError(f"JSON path {text!r}: unsupported syntax at offset {pos}")
        if m.group("name") is not None:
            steps.append(m.group("name"))
        elif m.group("dotstar") is not None or m.group("star") is not None:
            steps.append(WILDCARD)
        elif m.group("index") is not None:
            steps.append(int(m.group("index")))
        elif m.group("sq") is not None:
            steps.append(m.group("sq"))
        else:
            steps.append(m.group("dq"))
        pos = m.end()
    return JsonPath(text, tuple(steps))


def _children(value: Any, step: Step) -> list[Any]:
    if isinstance(step, _Wildcard):
        if isinstance(value, dict):
            return list(value.values())
        if isinstance(value, list):
            return list(value)
        return []
    if isinstance(step, int):
        if isinstance(value, list) and -len(value) <= step < len(value):
            return [value[step]]
        return []
    if isinstance(value, dict) and step in value:
        return [value[step]]
    return []


def select(path: JsonPath | str, document: Any) -> tuple[bool, Any]:
    """Apply the path to a JSON document.

    Returns ``(found, value)``: for a definite path, whether it exists and its
    value; for a path with wildcards, whether anything matched and the list of
    matches.
    """
    jp = parse(path) if isinstance(path, str) else path
    current = [document]
    for step in jp.steps:
        current = [child for value in current for child in _children(value, step)]
    if jp.definite:
        return (True, current[0]) if current else (False, None)
    return bool(current), current
