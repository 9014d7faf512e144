"""Molecule scenarios in lanes that run at the same time.

    python lanes.py --table FILE "stack coturn artifact" "keycloak cluster"

Each argument is a lane: its scenarios run one after another (`molecule test -s NAME`),
and the lanes run side by side. An item `make:TARGET` runs `make TARGET` in its place
(the integration tests, which use the sandbox, not a scenario's hosts), its seconds
recorded by make itself. A scenario's hosts spend much of their time waiting
(systemd, Java starting, package downloads), so on two cores two lanes finish well
before one lane holding every scenario. Scenarios never share hosts, networks or mirrors
(each has its own addresses and ephemeral directory), so lanes do not disturb each other.

Every line of output is prefixed with its scenario's name, and each scenario's steps
are recorded in FILE (steptimes.py). A failure in one lane does not cut the other short:
both finish (and destroy their hosts), then the exit status is 1.

--late SCENARIO --after-max SECONDS --since EPOCH: the safety valve for the longest
scenario. When the lane reaches SCENARIO more than SECONDS after EPOCH (the start of
`make test-all`), it is not started: the run says so in capitals and, under CI (CI set),
fails so that a skipped scenario is never mistaken for a pass.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import steptimes  # noqa: E402  (beside this file)

_print_lock = threading.Lock()


class _Prefixed:
    """A stream that writes each line with a prefix, one whole line at a time."""

    def __init__(self, prefix: str, out=sys.stdout):
        self.prefix, self.out = prefix, out

    def write(self, text: str) -> None:
        with _print_lock:
            for line in text.splitlines(keepends=True):
                self.out.write(f"{self.prefix}{line}")

    def flush(self) -> None:
        with _print_lock:
            self.out.flush()


def say(text: str) -> None:
    with _print_lock:
        print(text, flush=True)


def command(name: str, table: Path) -> list[str]:
    """What runs for a lane's item: make TARGET for make:TARGET, else the scenario."""
    if name.startswith("make:"):
        return ["make", "--no-print-directory", name.removeprefix("make:"),
                f"TIMES={table}", "TIMES_RESET=0"]
    return ["molecule", "test", "--scenario-name", name]


# Lines that say why a scenario failed: pytest's failed tests and their errors, Ansible's
# failed tasks and recaps, molecule's errors. The last of them are repeated at the end of the
# run, where a CI log's tail shows them.
WHY = re.compile(r"(FAILED|ERROR)\b.*::|^\s*E\s{3}\S|fatal: \[|failed=[1-9]|"
                 r"CRITICAL|Traceback|Error: ")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
WHY_LINES = 8
reasons: dict[str, collections.deque] = {}


def _noting(name: str, stream):
    """The lines of ``stream``, keeping the last that say why ``name`` failed."""
    kept = reasons.setdefault(name, collections.deque(maxlen=WHY_LINES))
    for line in stream:
        plain = ANSI.sub("", line).replace("\u2502", "").strip()
        if WHY.search(plain):
            kept.append(plain[:300])
        yield line


def run_scenario(name: str, table: Path) -> int:
    started = time.strftime('%H:%M:%S', time.gmtime())
    argv = command(name, table)
    say(f"=== [{name}] {' '.join(argv[:3])} (started {started})")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", bufsize=1)
    assert proc.stdout is not None
    lines = _noting(name, proc.stdout)
    if name.startswith("make:"):
        out = _Prefixed(f"[{name}] ")
        for line in lines:
            out.write(line)
    else:
        steptimes.tee(table, stream=lines, out=_Prefixed(f"[{name}] "))
    return proc.wait()


def run_lane(scenarios: list[str], table: Path, results: dict, late: dict) -> None:
    for name in scenarios:
        if name == late.get("scenario") and time.time() - late["since"] > late["after_max"]:
            results[name] = "SKIPPED"
            say(f"=== [{name}] THE {name.upper()} SCENARIO WAS NOT RUN: its lane reached it "
                f"{time.time() - late['since']:.0f} s after the start, more than "
                f"{late['after_max']} s (run it alone with make test-cluster)")
            continue
        start = time.monotonic()
        rc = run_scenario(name, table)
        took = time.monotonic() - start
        results[name] = "passed" if rc == 0 else f"FAILED (exit {rc})"
        say(f"=== [{name}] {results[name]} in {took:.0f} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lanes", nargs="+", help="a lane: scenario names separated by spaces")
    parser.add_argument("--table", type=Path, required=True)
    parser.add_argument("--late")
    parser.add_argument("--after-max", type=int, default=0)
    parser.add_argument("--since", type=float, default=0)
    args = parser.parse_args(argv)
    lanes = [lane.split() for lane in args.lanes if lane.split()]
    late = ({"scenario": args.late, "after_max": args.after_max, "since": args.since or time.time()}
            if args.late else {})
    results: dict[str, str] = {}
    start = time.monotonic()
    threads = [threading.Thread(target=run_lane, args=(lane, args.table, results, late))
               for lane in lanes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - start
    steptimes.add_row(args.table, "lanes", "wall clock", wall)
    shown = " | ".join(" ".join(lane) for lane in lanes)
    say(f"=== molecule lanes {shown}: {wall:.0f} s wall clock")
    for name, result in results.items():
        say(f"===   {name}: {result}")
    failed = [n for n, r in results.items() if r.startswith("FAILED")]
    for name in failed:
        say(f"=== [{name}] why, its last lines of failure:")
        for line in reasons.get(name) or ["(none recognised: read the scenario's output above)"]:
            say(f"===     {line}")
    skipped = [n for n, r in results.items() if r == "SKIPPED"]
    if skipped and os.environ.get("CI"):
        say(f"=== CI: {', '.join(skipped)} skipped by the safety valve: this run fails")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
