"""The artifact scenario's test mirror, served from the controller on the podman bridge.

    python mirror_fixture.py start   # fill <ephemeral>/mirrors/good, serve <ephemeral>/mirrors
    python mirror_fixture.py stop

`start` syncs the Keycloak zips (N-1 and N) with `sovctl mirror sync` (from the
local cache, else Maven Central) and livekit-server only if the cache already has
it (building it takes minutes: `make integration` does that), then serves the
parent directory through molecule/shared/artifact_mirror.py, so verify can add a
tampered copy beside the good one. Prints JSON: url (the good mirror), base, artifacts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "shared"))

import artifact_mirror  # noqa: E402 - found through the path set just above
from artifact_mirror import ephemeral_dir, stop  # noqa: E402

from sovctl import mirror  # noqa: E402

KEYCLOAK = ["keycloak"]
OPTIONAL = ["livekit-server"]

__all__ = ["mirrors_dir", "start", "stop"]


def mirrors_dir() -> Path:
    return ephemeral_dir() / "mirrors"


def fill() -> list[str]:
    """Sync the scenario's artifacts into mirrors/good; returns name@version of each."""
    cat = mirror.load_catalogue()
    cache = mirror.Cache()
    only = list(KEYCLOAK)
    for name in OPTIONAL:
        only += [a.ref for a in cat.select([name]) if cache.lookup(a.sha256)]
    result = mirror.sync(mirrors_dir() / "good", only=only, catalogue=cat, cache=cache,
                         log=lambda m: print(m, file=sys.stderr))
    return [e.artifact.ref for e in result.in_mirror]


def start() -> dict:
    state = artifact_mirror.serve(mirrors_dir(), fill())
    return dict(state, base=state["url"], url=f"{state['url']}/good")


if __name__ == "__main__":
    action = sys.argv[1] if len(sys.argv) > 1 else ""
    if action == "start":
        print(json.dumps(start()))
    elif action == "stop":
        stop()
    else:
        raise SystemExit(__doc__)
