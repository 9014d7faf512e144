"""Every role has a README that documents its declared interface.

For each directory in roles/: README.md exists; every option of every entry point in
meta/argument_specs.yml is named in it in backticks; a role with a tasks/publish.yml entry
point says what it publishes (`sov_published`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT

ROLES = sorted(path for path in (ROOT / "roles").iterdir() if path.is_dir())


def declared_options(role: Path) -> list[str]:
    """The option names of every entry point of the role's argument_specs (or none)."""
    specs = role / "meta" / "argument_specs.yml"
    if not specs.exists():
        return []
    entry_points = (yaml.safe_load(specs.read_text()) or {}).get("argument_specs") or {}
    names: list[str] = []
    for entry_point in entry_points.values():
        for name in ((entry_point or {}).get("options") or {}):
            if name not in names:
                names.append(name)
    return names


def test_roles_found():
    assert len(ROLES) > 1


@pytest.mark.parametrize("role", ROLES, ids=lambda path: path.name)
def test_readme_exists(role: Path):
    assert (role / "README.md").is_file(), f"roles/{role.name}/README.md is missing"


@pytest.mark.parametrize("role", ROLES, ids=lambda path: path.name)
def test_readme_documents_every_option(role: Path):
    readme = role / "README.md"
    assert readme.is_file(), f"roles/{role.name}/README.md is missing"
    text = readme.read_text()
    missing = [name for name in declared_options(role) if f"`{name}`" not in text]
    assert not missing, f"roles/{role.name}/README.md does not document {missing}"


@pytest.mark.parametrize(
    "role", [role for role in ROLES if (role / "tasks" / "publish.yml").exists()],
    ids=lambda path: path.name)
def test_readme_says_what_the_role_publishes(role: Path):
    readme = role / "README.md"
    assert readme.is_file(), f"roles/{role.name}/README.md is missing"
    assert "sov_published" in readme.read_text(), (
        f"roles/{role.name} has tasks/publish.yml; its README must mention sov_published")


def test_declared_options_reads_every_entry_point(tmp_path: Path):
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "argument_specs.yml").write_text(yaml.safe_dump({
        "argument_specs": {
            "main": {"options": {"a_one": {"type": "str"}}},
            "other": {"options": {"a_two": {"type": "int"}, "a_one": {"type": "str"}}},
            "bare": {"short_description": "no options"},
        }}))
    assert declared_options(tmp_path) == ["a_one", "a_two"]
    assert declared_options(tmp_path / "nothing") == []


def _tasks_from_uses() -> set[tuple[str, str]]:
    """(role, entry point) for every literal include_role/import_role with tasks_from in
    playbooks/ and roles/, and (role, publish) for every role playbooks/publish.yml runs."""
    uses: set[tuple[str, str]] = set()

    def walk(node):
        if isinstance(node, dict):
            for key in ("ansible.builtin.include_role", "ansible.builtin.import_role",
                        "include_role", "import_role"):
                args = node.get(key)
                if isinstance(args, dict) and "tasks_from" in args and \
                        "{{" not in str(args.get("name")):
                    uses.add((str(args["name"]), str(args["tasks_from"])))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in [*(ROOT / "playbooks").rglob("*.yml"), *(ROOT / "roles").rglob("tasks/*.yml")]:
        walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    uses |= {(role.name, "publish") for role in ROLES if (role / "tasks/publish.yml").exists()}
    return uses


def test_every_entry_point_used_is_declared():
    """A role's tasks_from entry points are its interface too: each one that playbooks or
    other roles use is declared in its argument_specs (validated when included, except
    publish, which playbooks/publish.yml runs in every play: see its comment)."""
    uses = _tasks_from_uses()
    assert len(uses) > 10  # the walk finds the playbooks' includes
    missing = []
    for role, entry in sorted(uses):
        specs = ROOT / "roles" / role / "meta" / "argument_specs.yml"
        declared = (yaml.safe_load(specs.read_text()) or {}).get("argument_specs") or {}
        if entry not in declared:
            missing.append(f"roles/{role}: {entry}")
    assert not missing, "used, not in meta/argument_specs.yml: " + ", ".join(missing)
