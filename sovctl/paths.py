"""Where sovctl finds its playbooks, roles and shipped data."""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

from sovctl.errors import UnavailableError


def project_root() -> Path:
    """The directory holding ``playbooks/`` and ``roles/``: the checkout sovctl runs from,
    or, installed from a wheel, the content it carries (``sovctl/_content``).

    ``SOVCTL_HOME`` overrides it (for a copy of the content outside the package).
    """
    env = os.environ.get("SOVCTL_HOME")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parent
    # A checkout's own directories, else the copy an installed wheel carries.
    candidates += [here.parent, here / "_content"]
    for cand in candidates:
        if (cand / "playbooks" / "site.yml").is_file():
            return cand
    raise UnavailableError(
        f"sovctl's playbooks were not found (looked in {', '.join(map(str, candidates))})",
        hint="set SOVCTL_HOME to a checkout of the sovctl repository",
    )


# What sovctl writes into the sandbox's inventory (the SSH settings, the vault and its
# password, the key, the CA, run records): never shipped (setup.py), never copied.
WORKING_FILES = (".vault-pass", "vault.yml", "sandbox_ssh.yml")


def _shipped(path: Path, root: Path) -> bool:
    rel = path.relative_to(root)
    return (path.is_file() and rel.name not in WORKING_FILES
            and not any(part.startswith(".sovctl") for part in rel.parts))


def installed() -> bool:
    """True when sovctl runs from the content an installed wheel carries."""
    return project_root() == Path(__file__).resolve().parent / "_content"


def default_inventory() -> Path:
    """The local sandbox's inventory, where sovctl also writes the sandbox's working files
    (SSH key, internal CA, vault and vault password, run records).

    In a checkout, ``inventories/sandbox``. Installed from a wheel, whose content is no
    place to write: ``SOVCTL_SANDBOX_DIR``, else ``$XDG_STATE_HOME/sovctl/sandbox``
    (``~/.local/state/sovctl/sandbox``). Its hosts and settings are those the wheel carries,
    copied there on every use (derived, not cached: an upgraded sovctl brings its own);
    the working files beside them are kept. ``SOVCTL_SANDBOX_DIR`` applies to a checkout too.
    """
    shipped = project_root() / "inventories" / "sandbox"
    target = sandbox_location()
    if target != shipped and shipped.is_dir() and target.resolve() != shipped.resolve():
        for src in sorted(shipped.rglob("*")):
            dst = target / src.relative_to(shipped)
            if _shipped(src, shipped) and not (dst.is_file()
                                               and filecmp.cmp(src, dst, shallow=False)):
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
    return target


def sandbox_location() -> Path:
    """Where the sandbox's inventory is (default_inventory), without making it."""
    env = os.environ.get("SOVCTL_SANDBOX_DIR")
    if env:
        return Path(env)
    if not installed():
        return project_root() / "inventories" / "sandbox"
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "sovctl" / "sandbox"


def state_dir(inventory: str | os.PathLike) -> Path:
    """Where sovctl keeps the state of runs on ``inventory``: its run records and the fact
    cache (which only speeds up fact gathering: nothing that decides a run comes from it).

    ``SOVCTL_STATE_DIR`` when set, else ``.sovctl/`` in the inventory's directory: the
    same whichever directory sovctl is started from.
    """
    env = os.environ.get("SOVCTL_STATE_DIR")
    if env:
        return Path(env).resolve()
    inv = Path(inventory).resolve()
    return (inv if inv.is_dir() else inv.parent) / ".sovctl"
