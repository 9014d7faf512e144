"""Benchmark: `sovctl deploy` with sovctl's tuned Ansible settings versus Ansible's defaults.

Not a test: run on demand against converged hosts, e.g. the sandbox after `make sandbox`:

    python bench/deploy_speed.py                 # no-op re-runs of the sandbox, both profiles
    python bench/deploy_speed.py --runs 3        # three of each, alternating
    python bench/deploy_speed.py --fresh         # also a fresh converge per profile
                                                 # (sandbox only: recreates its hosts)
    python bench/deploy_speed.py -i inventories/prod --service coturn

The two profiles run the same playbooks on the same hosts through `sovctl deploy`;
only the Ansible configuration differs:

- sovctl: what `sovctl deploy` uses: the project's ansible.cfg (SSH pipelining,
  ControlPersist 300 s, 20 forks, smart gathering with a JSON fact cache) and
  Mitogen's linear strategy (sovctl/runner.py);
- sovctl-no-mitogen: the same ansible.cfg with Ansible's own linear strategy
  (SOVCTL_MITOGEN=0), to show what each part is worth;
- ansible-defaults: an ansible.cfg that sets nothing beyond what any inventory
  needs to work (roles path, host key checking on), so every other setting is
  Ansible's own default (5 forks, no pipelining, ControlPersist 60 s, facts
  gathered by every play, in-memory fact cache, linear strategy).

Prints wall-clock seconds and the number of changed tasks per run (a no-op run must
report 0, or its time is not a no-op figure), then the median per profile and the
ratio. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sovctl.paths import state_dir

ROOT = Path(__file__).resolve().parent.parent
SANDBOX = ROOT / "inventories" / "sandbox"

DEFAULTS_CFG = """\
# Ansible's defaults, except what every inventory needs to work.
[defaults]
roles_path = {roles}
host_key_checking = true
retry_files_enabled = false
"""


def newest_record(runs: Path, before: set[Path]) -> dict | None:
    import json

    new = sorted(set(runs.glob("*.json")) - before, key=lambda p: p.stat().st_mtime)
    return json.loads(new[-1].read_text()) if new else None


def deploy(profile_cfg: Path, inventory: Path, service: str | None,
           extra_env: dict[str, str] | None = None) -> tuple[float, int, int]:
    """One `sovctl deploy`; returns (seconds, exit code, changed tasks over all hosts)."""
    runs = state_dir(inventory) / "runs"
    before = set(runs.glob("*.json")) if runs.is_dir() else set()
    argv = [sys.executable, "-m", "sovctl", "deploy", "-i", str(inventory)]
    if service:
        argv += ["--service", service]
    env = {k: v for k, v in os.environ.items()
           if k not in ("SOVCTL_MITOGEN", "ANSIBLE_STRATEGY", "ANSIBLE_STRATEGY_PLUGINS")}
    env.update({"ANSIBLE_CONFIG": str(profile_cfg), **(extra_env or {})})
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - start
    record = newest_record(runs, before) if runs.is_dir() else None
    changed = -1
    if record:
        changed = sum(h.get("changed", 0) for h in record.get("hosts", {}).values())
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-2000:])
    return seconds, proc.returncode, changed


def recreate_sandbox() -> None:
    for step in (["down"], ["up"]):
        subprocess.run([sys.executable, "-m", "sovctl", "sandbox", *step], cwd=ROOT,
                       check=True, capture_output=True, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--inventory", type=Path, default=SANDBOX)
    parser.add_argument("--service", help="limit to one service, as `sovctl deploy --service`")
    parser.add_argument("--runs", type=int, default=1, help="no-op runs per profile")
    parser.add_argument("--fresh", action="store_true",
                        help="also time a fresh converge per profile (sandbox only)")
    args = parser.parse_args()
    if args.fresh and args.inventory.resolve() != SANDBOX:
        parser.error("--fresh recreates the hosts: it works on the sandbox only")

    with tempfile.TemporaryDirectory(prefix="sovctl-bench-") as tmp:
        defaults_cfg = Path(tmp) / "ansible.cfg"
        defaults_cfg.write_text(DEFAULTS_CFG.format(roles=ROOT / "roles"))
        profiles = {"sovctl": ROOT / "ansible.cfg",
                    "sovctl-no-mitogen": ROOT / "ansible.cfg",
                    "ansible-defaults": defaults_cfg}
        no_mitogen = {"SOVCTL_MITOGEN": "0"}
        extra = {"sovctl-no-mitogen": no_mitogen, "ansible-defaults": no_mitogen}
        rows: list[tuple[str, str, float, int, int]] = []

        def timed(name: str, kind: str) -> None:
            seconds, rc, changed = deploy(profiles[name], args.inventory, args.service,
                                          extra.get(name))
            rows.append((name, kind, seconds, rc, changed))
            print(f"  {name:<18} {kind:<6} {seconds:8.1f} s  exit {rc}  changed {changed}",
                  flush=True)

        scope = f", service {args.service}" if args.service else ""
        print(f"Inventory: {args.inventory}{scope}")
        if args.fresh:
            for name in profiles:
                recreate_sandbox()
                timed(name, "fresh")
        else:
            # Make sure the hosts are converged before timing no-op runs.
            timed("sovctl", "warmup")
        for _ in range(args.runs):
            for name in profiles:
                timed(name, "no-op")

    print("\nProfile             kind    median s  runs")
    medians: dict[tuple[str, str], float] = {}
    for kind in ("fresh", "no-op"):
        for name in profiles:
            times = [r[2] for r in rows if r[0] == name and r[1] == kind and r[3] == 0]
            if times:
                medians[(name, kind)] = statistics.median(times)
                print(f"{name:<19} {kind:<6} {medians[(name, kind)]:9.1f}  {len(times)}")
    for kind in ("fresh", "no-op"):
        slow = medians.get(("ansible-defaults", kind))
        for name in ("sovctl", "sovctl-no-mitogen"):
            fast = medians.get((name, kind))
            if fast and slow:
                print(f"{kind}: {name} is {slow / fast:.2f}x the speed of Ansible's "
                      "defaults (target for no-op: 2x)")
    dirty = [r for r in rows if r[1] == "no-op" and r[4] != 0]
    if dirty:
        print("Note: some no-op runs changed tasks or failed; their times are not no-op figures.")
    failed = [r for r in rows if r[3] != 0]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
