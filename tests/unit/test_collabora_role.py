"""The collabora role's filters, settings checker and documented interface (no test host)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import assert_role_interface_documented, role_filters

ROLE = Path(__file__).resolve().parents[2] / "roles" / "collabora"


def _filters():
    return role_filters("collabora")


def _coolwsd_check(secure_password: str, password: str) -> bool:
    """coolwsd's own check (FileServer/Admin isConfigAuthOk), restated."""
    tokens = secure_password.split(".")
    assert len(tokens) == 5 and tokens[:2] == ["pbkdf2", "sha512"]
    salt, expected = bytes.fromhex(tokens[3]), bytes.fromhex(tokens[4])
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(tokens[2]),
                               len(expected)) == expected


def test_admin_hash_is_what_coolwsd_checks_and_is_stable():
    f = _filters()
    value = f["collabora_admin_hash"]("a-vault-password-of-32-characters", "office1/admin")
    assert value == f["collabora_admin_hash"]("a-vault-password-of-32-characters",
                                              "office1/admin")
    assert _coolwsd_check(value, "a-vault-password-of-32-characters")
    assert not _coolwsd_check(value, "another password")
    assert f["collabora_admin_hash_matches"](value, "a-vault-password-of-32-characters")
    other_host = f["collabora_admin_hash"]("a-vault-password-of-32-characters", "office2/admin")
    assert other_host.split(".")[3] != value.split(".")[3]  # salt differs per host
    with pytest.raises(ValueError):
        f["collabora_admin_hash"]("", "office1/admin")


def test_alias_group_is_escaped_xml():
    group = _filters()["collabora_alias_group"](
        {"url": "https://files.example.eu/", "aliases": ["https://a&b.example.eu"]})
    assert group == ('<group><host desc="hostname to allow or deny." allow="true">'
                     "https://files.example.eu</host><alias desc=\"regex pattern of aliasname\">"
                     "https://a&amp;b.example.eu</alias></group>")


def test_primary_fingerprints_ignore_subkeys():
    colons = "\n".join([
        "pub:-:2048:1:0C54D189F4BA284D:1439387045:::-:::scESC::::::23::0:",
        "fpr:::::::::6CCEA47B2281732DF5D504D00C54D189F4BA284D:",
        "uid:-::::1439387045::X::Collabora Productivity <x@example>::::::::::0:",
        "sub:-:2048:1:1111111111111111:1439387045::::::e::::::23:",
        "fpr:::::::::AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:",
    ])
    assert _filters()["collabora_primary_fingerprints"](colons) == [
        "6CCEA47B2281732DF5D504D00C54D189F4BA284D"]


SETTINGS = """<!-- test -->
<sovctl-coolwsd-settings host="office1">
  <setting xpath="/config/ssl/enable">false</setting>
  <setting xpath="/config/ssl/termination">true</setting>
  <setting xpath="/config/net/listen">loopback</setting>
  <setting xpath="/config/net/frame_ancestors">{ancestors}</setting>
  <setting xpath="/config/storage/wopi/alias_groups" attribute="mode">{mode}</setting>
  <setting xpath="/config/admin_console/username">admin</setting>
  <setting xpath="/config/admin_console/secure_password">{hash}</setting>
  <setting xpath="/config/languagetool/enabled">false</setting>
  <setting xpath="/config/deepl/enabled">false</setting>
  <setting xpath="/config/num_prespawn_children">1</setting>
  <setting xpath="/config/per_document/max_concurrency">2</setting>
  <setting xpath="/config/per_document/cleanup/limit_dirty_mem_mb">3072</setting>
  <setting xpath="/config/memproportion">80</setting>
  <setting xpath="/config/deepl/auth_key" secret="true" set="false"/>
  <children xpath="/config/storage/wopi/alias_groups">
    <group><host desc="d" allow="true">https://files.example.eu</host></group>
  </children>
</sovctl-coolwsd-settings>
"""


def _check(tmp_path: Path, text: str, kind: str = "settings") -> subprocess.CompletedProcess:
    if not shutil.which("xmllint"):
        pytest.skip("xmllint is not installed here (apt install libxml2-utils)")
    path = tmp_path / "settings.xml"
    path.write_text(text)
    return subprocess.run([sys.executable, str(ROLE / "files" / "collabora-config-check"),
                           kind, str(path)], capture_output=True, text=True)


@pytest.mark.parametrize(("change", "problem"), [
    ({}, None),
    ({"mode": "first"}, 'needs mode="groups"'),
    ({"ancestors": "'none'"}, "must not be 'none'"),
    ({"ancestors": "https://other.example.eu"}, "does not allow the WOPI host"),
    ({"hash": "plaintext"}, "not a pbkdf2.sha512 hash"),
])
def test_settings_checker(tmp_path, change, problem):
    hashed = _filters()["collabora_admin_hash"]("x" * 32, "office1/admin")
    values = {"ancestors": "https://files.example.eu", "mode": "groups", "hash": hashed} | change
    result = _check(tmp_path, SETTINGS.format(**values))
    if problem is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1 and problem in result.stderr


def test_settings_checker_refuses_broken_xml(tmp_path):
    result = _check(tmp_path, "<sovctl-coolwsd-settings><setting>")
    assert result.returncode == 1 and "xmllint" in result.stderr


def test_role_interface_is_documented():
    assert_role_interface_documented(ROLE, "collabora_")
