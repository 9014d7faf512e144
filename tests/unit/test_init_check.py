"""`sovctl init` then `sovctl check`: a valid inventory, and mutations that must be caught."""

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sovctl.cli import cli

HOSTS = ["--host", "edge1:edge+identity:198.51.100.7:scaleway:fr-par",
         "--host", "turn1:turn:203.0.113.10:ovhcloud:gra"]


@pytest.fixture
def inventory(tmp_path) -> Path:
    target = tmp_path / "prod"
    result = CliRunner().invoke(cli, ["init", str(target), "--domain", "collab.example.eu",
                                      *HOSTS])
    assert result.exit_code == 0, result.output
    return target


def test_init_writes_an_inventory_that_checks_clean(inventory):
    result = CliRunner().invoke(cli, ["check", "-i", str(inventory), "--offline"])
    assert result.exit_code == 0, result.output
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    turn1 = hosts["all"]["children"]["turn"]["hosts"]["turn1"]
    assert turn1["sov_country"] == "FR"  # from the region, not typed by the user
    assert (inventory / "group_vars/all/vault.yml").read_bytes().startswith(b"$ANSIBLE_VAULT")


def test_init_never_prints_a_secret(tmp_path):
    from sovctl import secrets

    target = tmp_path / "site"
    out = CliRunner().invoke(cli, ["init", str(target), "--domain", "a.example.eu", *HOSTS])
    for value in secrets.read_vault(target).values():
        assert value not in out.output


def test_init_refuses_a_non_empty_directory(inventory):
    result = CliRunner().invoke(cli, ["init", str(inventory), "--domain", "x.example.eu", *HOSTS])
    assert result.exit_code == 65
    assert "never overwrites" in result.output


@pytest.mark.parametrize("host,message", [
    ("t:turn:192.0.2.1:ovh:gra", "unknown provider 'ovh'"),
    ("t:turn:192.0.2.1:aws:gra", "unknown region 'gra' of aws"),
    ("t:turn:192.0.2.1:aws:eu-west-3:DE", "is in FR, not DE"),
    ("t:zoom:192.0.2.1:aws:eu-west-3", "unknown group 'zoom'"),
])
def test_init_rejects_bad_hosts(tmp_path, host, message):
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "x"), "--domain", "a.example.eu",
                                      "--host", host])
    assert result.exit_code == 65
    assert message in result.output and "--host" in result.output
    assert not (tmp_path / "x").exists()


MUTATIONS = [
    # (file, yaml text, field named, words of the message)
    ("group_vars/turn/main.yml", "coturn_min_port: lots\n", "coturn_min_port (host turn1)",
     "int"),
    ("host_vars/turn1.yml", "sov_provider: amazon\n", "sov_provider (host turn1)",
     "unknown provider"),
    ("group_vars/edge/main.yml", "nginx_https_port: 80\n", "nginx_https_port (host edge1)",
     "port 80"),
]


@pytest.mark.parametrize("rel,text,field,words", MUTATIONS)
def test_mutated_inventory_fails_with_file_and_field(inventory, rel, text, field, words):
    path = inventory / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    result = CliRunner().invoke(cli, ["check", "-i", str(inventory), "--offline"])
    assert result.exit_code == 65
    assert f"{path}: {field}" in result.output
    assert words in result.output


def test_missing_secret_is_reported(inventory):
    from sovctl import secrets
    from sovctl.secrets import _vault, _write_private

    values = secrets.read_vault(inventory)
    del values["vault_keycloak_db_password"]
    pw = (inventory / ".vault-pass").read_bytes().strip()
    _write_private(inventory / secrets.VAULT_RELPATH, _vault(pw).encrypt(yaml.safe_dump(values)))
    result = CliRunner().invoke(cli, ["check", "-i", str(inventory), "--offline"])
    assert result.exit_code == 65
    assert "group_vars/all/vault.yml: vault_keycloak_db_password: missing" in result.output
