"""Which inventory file sets a host's variable, for messages a user can act on.

Searched in Ansible's precedence order, highest first: host_vars/<host>, the
inventory sources that name the host, group_vars/<group> for the host's groups
(the group Ansible merges last first), then group_vars/all. A file "sets" a
variable when it has ``name:`` at a line start (YAML) or `` name=`` (INI).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

_VAR_EXTS = ("", ".yml", ".yaml", ".json")


@lru_cache(maxsize=1024)
def _names(path: Path) -> tuple[frozenset[str], frozenset[str]]:
    """(names a file sets, words it mentions), read once per file however large."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset(), frozenset()
    sets = frozenset(re.findall(r"(?m)(?:^|\s)-?\s*([\w.\-]+)\s*[:=]", text))
    return sets, frozenset(re.findall(r"[\w.\-]+", text))


def _var_files(directory: Path, name: str, memo: dict[Any, Any]) -> list[Path]:
    key = ("files", directory, name)
    if key not in memo:
        if ("list", directory) not in memo:  # one listing per directory, not 5 stats a name
            memo["list", directory] = set(os.listdir(directory)) if directory.is_dir() else set()
        entries = memo["list", directory]
        found = [directory / f"{name}{ext}" for ext in _VAR_EXTS
                 if f"{name}{ext}" in entries and (directory / f"{name}{ext}").is_file()]
        subdir = directory / name
        if name in entries and subdir.is_dir():
            found += sorted(p for p in subdir.rglob("*") if p.is_file())
        memo[key] = found
    return memo[key]


def _sources(inventory: Path, memo: dict[Any, Any]) -> list[Path]:
    key = ("sources", inventory)
    if key not in memo:
        memo[key] = [inventory] if inventory.is_file() else sorted(
            p for p in inventory.iterdir() if p.is_file() and not p.name.startswith("."))
    return memo[key]


def find_origin(inventory: Path, host: str, groups_low_to_high: list[str], var: str,
                memo: dict[Any, Any] | None = None) -> str:
    """The file that sets ``var`` for ``host``, else the inventory path itself.

    ``memo``: directory listings kept between calls of one run (an audit's findings)."""
    memo = {} if memo is None else memo
    base = inventory if inventory.is_dir() else inventory.parent
    candidates = _var_files(base / "host_vars", host, memo)
    candidates += [s for s in _sources(inventory, memo) if host in _names(s)[1]]
    for group in [*reversed(groups_low_to_high), "all"]:
        candidates += _var_files(base / "group_vars", group, memo)
    candidates += _sources(inventory, memo)
    for path in candidates:
        if var in _names(path)[0]:
            return str(path)
    return str(inventory)
