"""Untrusted YAML: one file read and parsed as data a stranger may have written.

Used for every inventory file before Ansible sees it (sovctl/inventory.py) and for the
other files sovctl reads from users. Limits keep a hostile file from taking the machine:
its size, the YAML nodes once aliases are expanded (an alias bomb), nesting depth,
recursive aliases, duplicate keys; only safe YAML plus Ansible's !vault and !unsafe tags.
Every problem is an InputError naming the file, the line and the fix.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from sovctl.errors import EXIT_BAD_INPUT, InputError

MAX_FILE_BYTES = 2 * 1024 * 1024  # per file
MAX_NODES = 200_000  # YAML nodes per file, counting every use of an alias
MAX_DEPTH = 64  # nesting of mappings and sequences


def shown(value: Any, limit: int = 60) -> str:
    """A value for a message: repr (control characters escaped), shortened."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


class _Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):
    """Safe YAML plus Ansible's two tags (!vault values stay text, !unsafe is plain data)."""


def _vault_value(loader, node):
    value = loader.construct_scalar(node)
    loader.vault_values.append((str(value), node.start_mark.line + 1))
    return str(value)


def _unsafe_value(loader, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor("!vault", _vault_value)
_Loader.add_constructor("!vault-encrypted", _vault_value)
_Loader.add_constructor("!unsafe", _unsafe_value)


class _Limit(Exception):
    def __init__(self, message: str, line: int | None, hint: str):
        super().__init__(message)
        self.message, self.line, self.hint = message, line, hint


def _check_graph(root: yaml.Node) -> None:
    """Depth, size with aliases expanded, recursion, duplicate keys: before constructing."""
    sizes: dict[int, int | None] = {}

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            if sizes[key] is None:
                raise _Limit("an alias refers to itself (a recursive structure)",
                             node.start_mark.line + 1, "remove the recursive alias")
            return sizes[key]  # type: ignore[return-value]
        if depth > MAX_DEPTH:
            raise _Limit(f"nested more than {MAX_DEPTH} levels deep", node.start_mark.line + 1,
                         "flatten the structure")
        sizes[key] = None
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += size(child, depth + 1)
        elif isinstance(node, yaml.MappingNode):
            seen: set[tuple[str, str]] = set()
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    ident = (k.tag, k.value)
                    if ident in seen:
                        raise _Limit(f"duplicate key {shown(k.value)}", k.start_mark.line + 1,
                                     "keep one of the two: YAML would silently use the last")
                    seen.add(ident)
                total += size(k, depth + 1) + size(v, depth + 1)
        if total > MAX_NODES:
            raise _Limit(f"more than {MAX_NODES} values once aliases are expanded "
                         "(an alias bomb?)", node.start_mark.line + 1,
                         "write the values out; use fewer aliases")
        sizes[key] = total
        return total

    size(root, 0)


def read_yaml_file(path: Path, exit_code: int = EXIT_BAD_INPUT, text: str | None = None,
                   vault_values: list | None = None) -> Any:
    """Parse one file as untrusted YAML data; every problem is an InputError naming it."""

    def fail(message: str, line: int | None = None, hint: str | None = None):
        return InputError(message, file=str(path), field=f"line {line}" if line else None,
                          hint=hint, exit_code=exit_code)

    if text is None:
        try:
            text = read_limited(path, exit_code).decode("utf-8")
        except UnicodeDecodeError:
            raise fail("not UTF-8 text", hint="save the file as UTF-8") from None
    loader = _Loader(text)
    loader.vault_values = []
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node)
        data = loader.construct_document(node)
    except _Limit as exc:
        raise fail(exc.message, exc.line, exc.hint) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = (exc.problem or exc.context or "cannot parse").strip()
        hint = "fix the YAML syntax at that line"
        if "\t" in problem or "'\\t'" in problem or _tab_at(text, mark):
            problem, hint = "a tab character in the indentation", "indent with spaces, not tabs"
        raise fail(f"not valid YAML: {problem}", line, hint) from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        raise fail(f"not valid YAML: {str(exc).splitlines()[0] if str(exc) else exc!r}",
                   hint="fix the YAML syntax") from None
    finally:
        loader.dispose()
    if vault_values is not None:
        vault_values += loader.vault_values
    return data


def _tab_at(text: str, mark) -> bool:
    if mark is None:
        return False
    lines = text.splitlines()
    return 0 <= mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]


def read_limited(path: Path, exit_code: int) -> bytes:
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise InputError("not a regular file", file=str(path), exit_code=exit_code,
                             hint="an inventory is a directory of YAML files or one file")
        if st.st_size > MAX_FILE_BYTES:
            raise InputError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB",
                             file=str(path), exit_code=exit_code,
                             hint="split the inventory; a file this large is not an inventory")
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path),
                         exit_code=exit_code) from exc
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB", file=str(path),
                         exit_code=exit_code, hint="split the inventory")
    if b"\x00" in data:
        raise InputError("a binary file, not YAML or INI text", file=str(path),
                         exit_code=exit_code, hint="remove it from the inventory")
    return data
