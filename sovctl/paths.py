"""Where sovctl finds its playbooks, roles and shipped data."""

from __future__ import annotations

import os
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


def default_inventory() -> Path:
    return project_root() / "inventories" / "sandbox"


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
