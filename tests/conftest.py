"""Shared fixtures: small inventories written into a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import write


@pytest.fixture
def make_inventory(tmp_path):
    """Build an inventory: a TURN host with valid site vars, plus any overriding files."""

    def build(extra: dict[str, str] | None = None, name: str = "inv",
              with_secrets: bool = True) -> Path:
        files = {
            "hosts.yml": """
                all:
                  children:
                    turn:
                      hosts:
                        turn1:
                          ansible_host: 127.0.0.1
                          ansible_port: 1
            """,
            "group_vars/all/main.yml": """
                sov_domain: collab.example.eu
                sov_provider: ovhcloud
                sov_region: gra
                sov_country: FR
            """,
        }
        files.update(extra or {})
        base = write(tmp_path / name, files)
        if with_secrets:
            from sovctl import secrets

            secrets.ensure(base)
        return base

    return build


@pytest.fixture(scope="module")
def vaulted_example(tmp_path_factory) -> Path:
    """A copy of inventories/example with a generated vault: it passes check as it is."""
    import shutil

    from sovctl import secrets

    inv = tmp_path_factory.mktemp("example") / "inv"
    shutil.copytree(Path(__file__).resolve().parents[1] / "inventories" / "example", inv)
    secrets.ensure(inv)
    return inv
