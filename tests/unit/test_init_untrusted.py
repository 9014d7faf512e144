"""`sovctl init` validates everything it writes; `secrets ensure` honours the password
file setting (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sovctl import secrets
from sovctl.cli import cli

GOOD = "t1:turn:203.0.113.10:ovhcloud:gra"


def _init(target: Path, *args: str):
    return CliRunner().invoke(cli, ["init", str(target), *args])


@pytest.mark.parametrize("host,message", [
    ("t1:turn:999.1.1.1:ovhcloud:gra", "not an IP address or a DNS name"),
    ("t1:turn:$(id)>x;:ovhcloud:gra", "not an IP address or a DNS name"),
    ("../evil:turn:203.0.113.10:ovhcloud:gra", "not a valid host name"),
    ("a b:turn:203.0.113.10:ovhcloud:gra", "not a valid host name"),
    ("a\nb:turn:203.0.113.10:ovhcloud:gra", "not a valid host name"),
    ("{{x}}:turn:203.0.113.10:ovhcloud:gra", "not a valid host name"),
    ("=1+1:turn:203.0.113.10:ovhcloud:gra", "not a valid host name"),
    ("t1:turn:203.0.113.10:on-premises:dc1:XX", "not an ISO 3166-1 country code"),
    ("t1:turn:203.0.113.10:on-premises:dc 1:FR", "not a valid region name"),
])
def test_init_refuses_what_it_should_not_write(tmp_path: Path, host: str, message: str) -> None:
    result = _init(tmp_path / "x", "--domain", "a.example.eu", "--host", host)
    assert result.exit_code == 65, result.output
    assert message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "x").exists()


def test_init_refuses_an_unknown_policy(tmp_path: Path) -> None:
    result = _init(tmp_path / "x", "--domain", "a.example.eu", "--host", GOOD,
                   "--policy", "eu-whatever")
    assert result.exit_code == 65 and "unknown policy" in result.output


def test_a_newline_in_the_directory_injects_nothing(tmp_path: Path) -> None:
    result = _init(tmp_path / "x\nsov_policy: none", "--domain", "a.example.eu", "--host", GOOD)
    assert result.exit_code == 65 and "control characters" in result.output


def test_init_writes_ipv6_addresses_through_the_serializer(tmp_path: Path) -> None:
    target = tmp_path / "v6"
    result = _init(target, "--domain", "a.example.eu",
                   "--host", "t1:turn:[2001:db8::10]:ovhcloud:gra")
    assert result.exit_code == 0, result.output
    hosts = yaml.safe_load((target / "hosts.yml").read_text())
    assert hosts["all"]["children"]["turn"]["hosts"]["t1"]["ansible_host"] == "2001:db8::10"
    check = CliRunner().invoke(cli, ["check", "-i", str(target), "--offline"])
    assert check.exit_code == 0, check.output


def test_secrets_ensure_honours_the_password_file_setting(tmp_path: Path, monkeypatch) -> None:
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "hosts.yml").write_text("all:\n  hosts:\n    h1.example.eu: {}\n")
    elsewhere = tmp_path / "keys" / "vault-pass"
    elsewhere.parent.mkdir()
    elsewhere.write_text("a-password-kept-elsewhere\n")
    monkeypatch.setenv("SOVCTL_VAULT_PASSWORD_FILE", str(elsewhere))
    result = CliRunner().invoke(cli, ["secrets", "ensure", "-i", str(inv)])
    assert result.exit_code == 0, result.output
    assert not (inv / ".vault-pass").exists()
    assert secrets.read_vault(inv, elsewhere)
    assert secrets.read_vault(inv)  # the setting, not <inventory>/.vault-pass
