"""Benchmark (not a test): ``sovctl audit`` against ``ansible-inventory --list`` on 10,000 hosts.

Generates a realistic inventory in a temporary directory (service groups, site
groups with their provider/region/country in group_vars, site-wide endpoints in
group_vars/all, some host_vars), then runs both commands on it, each in its own
measuring process, and prints wall time, CPU time and peak RSS (getrusage of the
children). On a shared machine wall time includes waiting for a core; CPU time does not.
Target (issue 7): the audit no slower than ansible-inventory, under 500 MB.

    python bench/audit_scale.py [--hosts 10000] [--policy eu-sovereign] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

SITES = [("ovhcloud", "gra", "FR"), ("hetzner", "fsn1", "DE"), ("scaleway", "fr-par", "FR"),
         ("aws", "eu-west-3", "FR"), ("ionos", "de/fra", "DE")]
SERVICES = ["conferencing", "turn", "identity", "office", "edge", "meet"]
SITE_WIDE = {
    "sov_policy": "eu-residency",
    "sov_domain": "example.eu",
    "sov_ntp_servers": ["ptbtime1.ptb.de", "ntp.example.eu"],
    "sov_dns_resolvers": ["10.0.0.53"],
    "sov_apt_mirror": "http://mirror.example.eu/debian",
    "sov_acme_directory": "https://acme.harica.gr/directory",
    "sov_smtp_relay": "smtp.example.eu:587",
    "sov_stun_servers": ["stun:stun.example.eu:3478"],
    "sov_artifact_mirror": "https://artifacts.example.eu/",
    "sov_backup_target": "s3:https://s3.fr-par.scw.cloud/backups",
    "sov_endpoint_locations": {
        name: {"country": "FR", "operator": "Example SAS", "parent_country": "FR"}
        for name in ("ntp.example.eu", "mirror.example.eu", "smtp.example.eu",
                     "stun.example.eu", "artifacts.example.eu")},
}
# Measures one command in a fresh process, so peak RSS is that command's alone.
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
rss, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
print(json.dumps({"rc": proc.returncode, "wall": wall, "cpu": cpu, "rss_kb": rss,
                  "stderr": proc.stderr.decode()[-400:]}))
"""


def site_group(site: tuple[str, str, str]) -> str:
    return "site_" + "_".join(site[:2]).replace("-", "_").replace("/", "_")


def generate(base: Path, count: int) -> Path:
    inv = base / "inventory"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "host_vars").mkdir()
    children: dict[str, dict] = {s: {"hosts": {}} for s in SERVICES}
    children.update({site_group(s): {"hosts": {}} for s in SITES})
    for i in range(count):
        name = f"h{i:05d}.example.eu"
        site = SITES[i % len(SITES)]
        children[SERVICES[i % len(SERVICES)]]["hosts"][name] = {
            "ansible_host": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"}
        children[site_group(site)]["hosts"][name] = None
        if i % 100 == 0:
            (inv / "host_vars" / f"{name}.yml").write_text(
                yaml.safe_dump({"sov_country": site[2]}, explicit_start=True))
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": children}},
                                                  explicit_start=True))
    for site in SITES:
        (inv / "group_vars" / f"{site_group(site)}.yml").write_text(yaml.safe_dump(
            {"sov_provider": site[0], "sov_region": site[1], "sov_country": site[2]},
            explicit_start=True))
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(SITE_WIDE, explicit_start=True))
    return inv


ROOT = Path(__file__).resolve().parents[1]


def measure(cmd: list[str], cwd: Path) -> dict:
    # The sovctl of this checkout, not whichever one the interpreter has installed
    # (an editable install of another worktree, for instance).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], cwd=cwd, check=True,
                         capture_output=True, text=True, env=env)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--policy", default="eu-sovereign")
    parser.add_argument("--keep", action="store_true", help="keep the generated inventory")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sovctl-bench-"))
    try:
        inv = generate(base, args.hosts)
        bindir = Path(sys.executable).parent
        inventory_cmd = [str(bindir / "ansible-inventory"), "-i", str(inv), "--list",
                         "--output", str(base / "inventory.json")]
        audit_cmd = [sys.executable, "-m", "sovctl", "audit", "-i", str(inv), "--policy",
                     args.policy, "--format", "json", "-o", str(base / "audit.json")]
        results = {"ansible-inventory --list": measure(inventory_cmd, base),
                   "sovctl audit": measure(audit_cmd, base)}
        summary = json.loads((base / "audit.json").read_text())["summary"]
        print(f"{args.hosts} hosts, policy {args.policy}; audit summary: {summary}")
        print(f"{'command':<26} {'exit':>4} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}")
        for name, r in results.items():
            print(f"{name:<26} {r['rc']:>4} {r['wall']:>8.2f} {r['cpu']:>8.2f} "
                  f"{r['rss_kb'] / 1024:>12.0f}")
            if r["rc"] not in (0, 1):
                print(f"  stderr: {r['stderr']}")
        ratio = results["sovctl audit"]["wall"] / results["ansible-inventory --list"]["wall"]
        cpu_ratio = results["sovctl audit"]["cpu"] / results["ansible-inventory --list"]["cpu"]
        print(f"audit / ansible-inventory wall time: {ratio:.2f} (CPU time: {cpu_ratio:.2f})")
    finally:
        if args.keep:
            print(f"inventory kept in {base}")
        else:
            shutil.rmtree(base)


if __name__ == "__main__":
    main()
