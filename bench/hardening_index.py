"""Report: the Lynis hardening index of every host of an inventory (target: 80).

Not a test: run on demand against converged hosts, e.g. the sandbox after
`make sandbox`:

    python bench/hardening_index.py                    # the sandbox
    python bench/hardening_index.py -i inventories/prod --limit 'edge:turn'

Lynis comes from Debian (package `lynis`). It is installed on each host for the
audit and removed again afterwards when it was not there before (`--keep` leaves
it). Prints, per host, the hardening index, the number of warnings and
suggestions, and the most frequent suggestion ids, so a low score points at
what to fix. Read-only on the system's configuration; Lynis writes its report
under /var/log/lynis-report.dat on each host. (`roles/common` installs Lynis on
every host, so on a deployed stack it is there already and stays.)

Measured on the sandbox (5 podman hosts, Lynis 3.1.4, 2026-11-26):

    host            before  after roles/common's BP-028 measures
    sandbox-edge        69     82
    sandbox-office      69     82
    sandbox-rtc         68     80
    sandbox-scan        69     81
    sandbox-turn        68     81

What keeps a container below a server's figure is the kernel it shares with its
host: global sysctls (KRNL-6000), auditd (ACCT-9628) and the modprobe.d module
blacklist (USB-1000, STRG-1846, NETW-3200) are not applied there on purpose, and
there are no separate /home and /var (FILE-6310). On the edge, PostgreSQL's
world-readable configuration files (DBS-1828); on the conferencing host, Lynis
does not read Redis ACL users (DBS-1884).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

TARGET = 80
SCRIPT = r"""
set -e
had=0; dpkg -s lynis >/dev/null 2>&1 && had=1
if [ $had = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lynis >/dev/null 2>&1
fi
lynis audit system --quick --no-colors --no-log --report-file /var/log/lynis-report.dat \
  >/dev/null 2>&1 || true
grep -E '^(hardening_index|warning\[\]|suggestion\[\]|lynis_version)=' /var/log/lynis-report.dat
if [ $had = 0 ] && [ "${KEEP:-0}" != 1 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq lynis >/dev/null 2>&1 || true
fi
"""


def run(inventory: Path, limit: str, keep: bool) -> dict[str, dict]:
    ansible = Path(sys.executable).parent / "ansible"
    env = {**os.environ, "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_NOCOLOR": "1"}
    vault = inventory / ".vault-pass"
    if vault.is_file():
        env.setdefault("ANSIBLE_VAULT_PASSWORD_FILE", str(vault))
    script = ("KEEP=1\n" if keep else "") + SCRIPT
    proc = subprocess.run([str(ansible), limit, "-i", str(inventory), "-b", "-m",
                           "ansible.builtin.shell", "-a", script],
                          env=env, capture_output=True, text=True, timeout=1800)
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"ansible failed (exit {proc.returncode}):\n"
                         f"{(proc.stderr or proc.stdout)[-2000:]}") from None
    results = {}
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            for host, res in task.get("hosts", {}).items():
                results[host] = res
    return results


def parse(stdout: str) -> dict:
    fields: dict = {"index": None, "warnings": [], "suggestions": [], "version": ""}
    for line in stdout.splitlines():
        key, _, value = line.partition("=")
        if key == "hardening_index":
            fields["index"] = int(value)
        elif key == "lynis_version":
            fields["version"] = value
        elif key == "warning[]":
            fields["warnings"].append(value.split("|")[0])
        elif key == "suggestion[]":
            fields["suggestions"].append(value.split("|")[0])
    return fields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--inventory", type=Path,
                        default=Path(__file__).resolve().parent.parent / "inventories" / "sandbox")
    parser.add_argument("--limit", default="all", help="Ansible host pattern (default: all)")
    parser.add_argument("--keep", action="store_true", help="leave lynis installed")
    args = parser.parse_args()
    results = run(args.inventory, args.limit, args.keep)
    print(f"{'HOST':<22} {'INDEX':>5} {'TARGET':>6} {'WARN':>4} {'SUGG':>4}  "
          "most frequent suggestions")
    below = 0
    for host in sorted(results):
        res = results[host]
        if res.get("failed") or res.get("unreachable") or res.get("rc", 0) != 0:
            print(f"{host:<22} {'-':>5} {TARGET:>6}  error: "
                  f"{(res.get('msg') or res.get('stderr') or '')[:100]}")
            below += 1
            continue
        f = parse(res.get("stdout", ""))
        top = ", ".join(k for k, _ in Counter(f["suggestions"]).most_common(6))
        mark = "" if (f["index"] or 0) >= TARGET else "  (below target)"
        below += bool(mark)
        print(f"{host:<22} {f['index']!s:>5} {TARGET:>6} {len(f['warnings']):>4} "
              f"{len(f['suggestions']):>4}  {top}{mark}")
        if f["warnings"]:
            print(f"{'':<22} warnings: {', '.join(sorted(set(f['warnings'])))}")
    print(f"{len(results)} host(s), {below} below the target of {TARGET} (Lynis "
          "hardening index; the figure is reported, not asserted)")


if __name__ == "__main__":
    main()
