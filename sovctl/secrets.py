"""Generated secrets, kept in the inventory's ansible-vault file.

``ensure(inventory_dir)`` creates the vault password file if needed and adds every
secret of the catalogue (sovctl/data/secrets.yml) that the vault lacks. Secrets
already there are never changed: re-runs and upgrades keep them.
"""

from __future__ import annotations

import os
import secrets as _random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from sovctl.errors import InputError
from sovctl.inventory import VAULT_PASS_FILENAME, vault_password_file

VAULT_RELPATH = Path("group_vars/all/vault.yml")


def catalogue() -> dict[str, dict]:
    text = resources.files("sovctl.data").joinpath("secrets.yml").read_text()
    return yaml.safe_load(text)


def generate(kind: str, length: int) -> str:
    if kind == "hex":
        return _random.token_hex((length + 1) // 2)[:length]
    return _random.token_urlsafe(length)[:length]


@dataclass
class EnsureResult:
    vault_file: Path
    password_file: Path
    added: list[str]
    created_password: bool


def _vault(password: bytes):
    from ansible.parsing.vault import VaultLib, VaultSecret

    return VaultLib([("default", VaultSecret(password))])


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def password_file_for(inventory_dir: Path) -> Path:
    """$SOVCTL_VAULT_PASSWORD_FILE (or Ansible's variable), else <inventory>/.vault-pass."""
    return vault_password_file(inventory_dir) or inventory_dir / VAULT_PASS_FILENAME


def read_vault(inventory_dir: Path, password_file: Path | None = None) -> dict[str, str]:
    inventory_dir = Path(inventory_dir)
    pw_file = password_file or password_file_for(inventory_dir)
    vault_file = inventory_dir / VAULT_RELPATH
    if not vault_file.exists():
        return {}
    if not pw_file.exists():
        raise InputError("the vault exists but its password file does not",
                         file=str(pw_file),
                         hint="restore the vault password file, or set SOVCTL_VAULT_PASSWORD_FILE")
    from ansible.errors import AnsibleError

    try:
        plain = _vault(pw_file.read_bytes().strip()).decrypt(vault_file.read_bytes())
    except (AnsibleError, ValueError, TypeError) as exc:
        raise InputError("cannot decrypt the vault with the password file",
                         file=str(vault_file), hint=f"check {pw_file}") from exc
    from sovctl.inventory import read_yaml_file

    try:
        data = read_yaml_file(vault_file, text=plain.decode("utf-8")) or {}
    except UnicodeDecodeError:
        raise InputError("the decrypted vault is not UTF-8 text", file=str(vault_file)) from None
    if not isinstance(data, dict):
        raise InputError("the vault must hold a mapping of variables", file=str(vault_file))
    return {str(k): v for k, v in data.items()}


def ensure(inventory_dir: str | os.PathLike, password_file: Path | None = None) -> EnsureResult:
    inventory_dir = Path(inventory_dir)
    if not inventory_dir.is_dir():
        raise InputError("not an inventory directory", file=str(inventory_dir),
                         hint="run `sovctl init DIR` to create one")
    pw_file = password_file or password_file_for(inventory_dir)
    created = False
    if not pw_file.exists():
        if (inventory_dir / VAULT_RELPATH).exists():
            raise InputError("the vault exists but its password file does not",
                             file=str(pw_file), hint="restore the vault password file")
        _write_private(pw_file, _random.token_urlsafe(32).encode() + b"\n")
        created = True
    current = read_vault(inventory_dir, pw_file)
    added = []
    for name, spec in catalogue().items():
        if not current.get(name):
            current[name] = generate(spec.get("kind", "token"), int(spec.get("length", 40)))
            added.append(name)
    vault_file = inventory_dir / VAULT_RELPATH
    if added or not vault_file.exists():
        header = ("# sovctl secrets: generated, encrypted with ansible-vault. "
                  "Never commit the password.\n")
        plain = (header + yaml.safe_dump(current, sort_keys=True)).encode()
        _write_private(vault_file, _vault(pw_file.read_bytes().strip()).encrypt(plain))
    return EnsureResult(vault_file, pw_file, added, created)
