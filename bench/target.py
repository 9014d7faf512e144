"""Which deployment a benchmark measures: -i INVENTORY, else $SOVCTL_VERIFY_INVENTORY, else
the local sandbox. The inventory's vault password file is found as sovctl finds it
($SOVCTL_VAULT_PASSWORD_FILE, else INVENTORY/.vault-pass), so the sandbox needs nothing
set by hand."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def use_inventory(explicit: str | None = None) -> Path:
    """Point the checks library (sovctl.probes.context) and Ansible at the inventory."""
    from sovctl.inventory import vault_password_file

    path = Path(explicit or os.environ.get("SOVCTL_VERIFY_INVENTORY")
                or ROOT / "inventories" / "sandbox").resolve()
    if not path.exists():
        raise SystemExit(f"no inventory at {path}: pass -i INVENTORY (or `make sandbox`)")
    os.environ["SOVCTL_VERIFY_INVENTORY"] = str(path)
    vault = vault_password_file(path if path.is_dir() else path.parent)
    if vault and vault.is_file():
        os.environ.setdefault("ANSIBLE_VAULT_PASSWORD_FILE", str(vault))
    return path
