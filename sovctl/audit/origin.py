"""Which inventory file sets a host's variable, for messages a user can act on.

Searched in Ansible's precedence order, highest first: host_vars/<host>, the
inventory sources that name the host, group_vars/<group> for the host's groups
(the group Ansible merges last first), then group_vars/all. A file "sets" a
variable when it has ``name:`` at a line start (YAML) or `` name=`` (INI).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

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


def _var_files(directory: Path, name: str) -> list[Path]:
    files = [directory / f"{name}{ext}" for ext in _VAR_EXTS]
    found = [f for f in files if f.is_file()]
    subdir = directory / name
    if subdir.is_dir():
        found += sorted(p for p in subdir.rglob("*") if p.is_file())
    return found


def _sources(inventory: Path) -> list[Path]:
    if inventory.is_file():
        return [inventory]
    return sorted(p for p in inventory.iterdir() if p.is_file() and not p.name.startswith("."))


def find_origin(inventory: Path, host: str, groups_low_to_high: list[str], var: str) -> str:
    """The file that sets ``var`` for ``host``, else the inventory path itself."""
    base = inventory if inventory.is_dir() else inventory.parent
    candidates = _var_files(base / "host_vars", host)
    candidates += [s for s in _sources(inventory) if host in _names(s)[1]]
    for group in [*reversed(groups_low_to_high), "all"]:
        candidates += _var_files(base / "group_vars", group)
    candidates += _sources(inventory)
    for path in candidates:
        if var in _names(path)[0]:
            return str(path)
    return str(inventory)
