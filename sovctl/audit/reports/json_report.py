"""The JSON report (the contract), one host, endpoint, finding or location per line.

``json.dumps(indent=2)`` runs Python's own encoder over every item; a 10,000-host report
whose 1,667 TURN relays are each used by 1,667 LiveKit hosts has 2.8 million ``used_by``
entries, which took it 1.4 s. Here mappings are indented down to ``INDENTED_LEVELS`` and
the items of lists down to ``LISTED_LEVELS`` (the report's sections) are one line each,
written by the C encoder, as is anything deeper. The data is the same; only the layout differs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

INDENTED_LEVELS = 3  # mappings: the report, its sections, meta's parts
LISTED_LEVELS = 2  # lists one item per line: the report's sections (hosts, endpoints...)


SHARED_LIST = 64  # a list this long in a row (used_by) is encoded once however many rows share it


def render(report: dict[str, Any]) -> str:
    return "".join(chunks(report))


def chunks(report: dict[str, Any]) -> Iterator[str]:
    """The report's text in pieces of a few hundred lines, to be written as
    they come (a 10,000-host report is tens of MB: never held twice)."""
    parts: list[str] = []
    for _ in _write(report, 0, parts, {}):
        if len(parts) >= 256:
            yield "".join(parts)
            parts.clear()
    parts.append("\n")
    yield "".join(parts)


def _line(item: Any, shared: dict[int, tuple[Any, str]]) -> str:
    """``json.dumps(item)``; a long list in it that other rows share (the hosts of
    LiveKit's TURN relays) is encoded once."""
    if not (isinstance(item, dict) and any(isinstance(v, list) and len(v) >= SHARED_LIST
                                           for v in item.values())):
        return json.dumps(item, ensure_ascii=False)
    fields = []
    for key, value in item.items():
        if isinstance(value, list) and len(value) >= SHARED_LIST:
            seen = shared.get(id(value))
            if seen is None or seen[0] is not value:
                seen = shared[id(value)] = (value, json.dumps(value, ensure_ascii=False))
            text = seen[1]
        else:
            text = json.dumps(value, ensure_ascii=False)
        fields.append(f"{json.dumps(str(key), ensure_ascii=False)}: {text}")
    return "{" + ", ".join(fields) + "}"


def _write(value: Any, depth: int, parts: list[str],
           shared: dict[int, tuple[Any, str]]) -> Iterator[None]:
    """Appends the text of ``value`` to ``parts``, yielding after each line."""
    limit = INDENTED_LEVELS if isinstance(value, dict) else LISTED_LEVELS
    if depth >= limit or not isinstance(value, dict | list) or not value:
        parts.append(json.dumps(value, ensure_ascii=False))
        return
    inner = "\n" + "  " * (depth + 1)
    if isinstance(value, dict):
        parts.append("{")
        for i, (key, item) in enumerate(value.items()):
            parts.append(("," if i else "") + inner + json.dumps(str(key), ensure_ascii=False)
                         + ": ")
            yield from _write(item, depth + 1, parts, shared)
        parts.append("\n" + "  " * depth + "}")
    else:
        parts.append("[")
        for i, item in enumerate(value):
            parts.append(("," if i else "") + inner + _line(item, shared))
            yield
        parts.append("\n" + "  " * depth + "]")
