import stat

import pytest

from sovctl import secrets
from sovctl.errors import InputError
from sovctl.inventory import load_inventory


def test_ensure_generates_encrypted_secrets_and_keeps_them(make_inventory):
    inv = make_inventory(with_secrets=False)
    first = secrets.ensure(inv)
    assert first.created_password
    assert set(first.added) == set(secrets.catalogue())
    raw = first.vault_file.read_bytes()
    assert raw.startswith(b"$ANSIBLE_VAULT;")
    assert stat.S_IMODE(first.password_file.stat().st_mode) == 0o600
    values = secrets.read_vault(inv)
    for value in values.values():
        assert value.encode() not in raw
    assert len(values["vault_coturn_static_auth_secret"]) >= 32

    second = secrets.ensure(inv)
    assert second.added == [] and not second.created_password
    assert secrets.read_vault(inv) == values


def test_ensure_adds_only_missing_secrets(make_inventory):
    inv = make_inventory(with_secrets=False)
    secrets.ensure(inv)
    values = secrets.read_vault(inv)
    del values["vault_tls_ca_passphrase"]
    # simulate an older vault: rewrite it without one secret
    import yaml

    from sovctl.secrets import _vault, _write_private

    pw = (inv / ".vault-pass").read_bytes().strip()
    _write_private(inv / secrets.VAULT_RELPATH, _vault(pw).encrypt(yaml.safe_dump(values)))
    result = secrets.ensure(inv)
    assert result.added == ["vault_tls_ca_passphrase"]
    after = secrets.read_vault(inv)
    assert after["vault_coturn_static_auth_secret"] == values["vault_coturn_static_auth_secret"]


def test_vault_without_password_is_an_error_not_a_new_vault(make_inventory):
    inv = make_inventory(with_secrets=False)
    secrets.ensure(inv)
    (inv / ".vault-pass").unlink()
    with pytest.raises(InputError, match="password file"):
        secrets.ensure(inv)


def test_inventory_loader_decrypts_the_vault(make_inventory):
    inv = make_inventory(with_secrets=False)
    secrets.ensure(inv)
    host = load_inventory(inv).hosts["turn1"]
    assert host.vars["vault_coturn_static_auth_secret"] == secrets.read_vault(inv)[
        "vault_coturn_static_auth_secret"]
