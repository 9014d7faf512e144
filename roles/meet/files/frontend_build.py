"""Build the meeting app's frontend on the controller, cached by a hash of its sources.

    python3 frontend_build.py probe SRC CACHE    # print {"hash", "dist", "cached"}
    python3 frontend_build.py build SRC CACHE    # build into CACHE/<hash>/dist if missing

The hash covers every source file and the lockfile (not node_modules or dist). A build
copies the sources to a scratch directory next to the cache, runs `npm ci` (exact
versions from package-lock.json) and `npm run build` (vite) there, then moves dist/ into
place, so the repository never gets a node_modules or a dist.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SKIP = {"node_modules", "dist", ".vite"}


def sources(src: Path) -> list[Path]:
    files = []
    for root, dirs, names in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d not in SKIP)
        files += [Path(root, n) for n in sorted(names)]
    return sorted(files)


def source_hash(src: Path) -> str:
    digest = hashlib.sha256()
    for path in sources(src):
        digest.update(path.relative_to(src).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:24]


def probe(src: Path, cache: Path) -> dict:
    key = source_hash(src)
    dist = cache / key / "dist"
    return {"hash": key, "dist": str(dist), "cached": (dist / "index.html").is_file()}


def build(src: Path, cache: Path) -> dict:
    state = probe(src, cache)
    if state["cached"]:
        return state
    if not shutil.which("npm"):
        raise SystemExit("npm is not installed on the controller: apt-get install npm "
                         "(Node.js 20+), needed once to build the meeting app's frontend")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=cache) as scratch:
        work = Path(scratch) / "frontend"
        for path in sources(src):
            target = work / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        env = dict(os.environ, npm_config_audit="false", npm_config_fund="false",
                   npm_config_update_notifier="false")
        for argv in (["npm", "ci", "--no-audit", "--no-fund"], ["npm", "run", "build"]):
            proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout[-3000:]}"
                                 f"{proc.stderr[-3000:]}")
        target = Path(state["dist"])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(work / "dist"), target)
    return dict(probe(src, cache), built=True)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("probe", "build"):
        raise SystemExit(__doc__)
    action, src_dir, cache_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    print(json.dumps((probe if action == "probe" else build)(src_dir, cache_dir)))
