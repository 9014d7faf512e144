"""Where the test time goes: per molecule scenario and step, and per make step.

    molecule test -s NAME 2>&1 | python steptimes.py tee --table FILE
        passes molecule's output through and appends one row per step of the scenario
        (create, converge, idempotence, side_effect, verify, destroy, ...) to FILE.
    python steptimes.py add --table FILE --scenario make --step unit --seconds 42
    python steptimes.py report --table FILE
        prints the table: each step's seconds, each scenario's total, the grand total,
        and the wall clock: the row (run, wall clock) that make test / make test-all
        record for the whole run, else make's steps plus the lanes' wall clock.

The rows are tab-separated (scenario, step, seconds) so that CI keeps the file as it is.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# molecule's "INFO     coturn ➜ converge: Executing"
STEP = re.compile(r"^\S+\s+(\S+) \u279c (\w+): Executing\b")


def tee(table: Path, stream=sys.stdin, out=sys.stdout, clock=time.monotonic) -> None:
    rows, current, started = [], None, clock()
    for line in stream:
        out.write(line)
        out.flush()
        match = STEP.match(ANSI.sub("", line).strip())
        if match and (match.group(1), match.group(2)) != current:
            # molecule announces some steps twice (verify): one row per step
            now = clock()
            if current:
                rows.append((*current, now - started))
            current, started = (match.group(1), match.group(2)), now
    if current:
        rows.append((*current, clock() - started))
    _append(table, rows)


def add_row(table: Path, scenario: str, step: str, seconds: float) -> None:
    _append(table, [(scenario, step, seconds)])


def _append(table: Path, rows) -> None:
    table.parent.mkdir(parents=True, exist_ok=True)
    with table.open("a", encoding="utf-8") as fh:
        for scenario, step, seconds in rows:
            fh.write(f"{scenario}\t{step}\t{seconds:.0f}\n")


def report(table: Path) -> str:
    totals: dict[str, float] = {}
    steps: dict[str, list[tuple[str, float]]] = {}
    for line in table.read_text(encoding="utf-8").splitlines() if table.exists() else []:
        scenario, step, seconds = line.split("\t")
        steps.setdefault(scenario, []).append((step, float(seconds)))
        totals[scenario] = totals.get(scenario, 0) + float(seconds)
    lines = [f"{'scenario':<12} {'total':>7}  steps (seconds)"]
    for scenario, total in totals.items():
        detail = ", ".join(f"{step} {seconds:.0f}" for step, seconds in steps[scenario])
        lines.append(f"{scenario:<12} {total:>6.0f}s  {detail}")
    wall = totals.pop("lanes", None)
    run = totals.pop("run", None)
    grand = sum(totals.values())
    lines = [line for line in lines if not line.startswith(("lanes ", "run "))]
    lines.append(f"{'all':<12} {grand:>6.0f}s  ({grand / 60:.1f} min of work)")
    if run is not None:
        # the whole run, start to end, as make measured it (steps overlap: lint beside
        # unit, the integration tests in a lane)
        lanes = f", the molecule lanes side by side in {wall:.0f} s" if wall is not None else ""
        lines.append(f"{'wall clock':<12} {run:>6.0f}s  ({run / 60:.1f} min from start to "
                     f"end{lanes})")
    elif wall is not None:
        make = totals.get("make", 0)
        lines.append(f"{'wall clock':<12} {make + wall:>6.0f}s  ({(make + wall) / 60:.1f} min: "
                     f"make's steps, then the molecule lanes side by side in {wall:.0f} s)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["tee", "add", "report"])
    parser.add_argument("--table", type=Path, required=True)
    parser.add_argument("--scenario")
    parser.add_argument("--step")
    parser.add_argument("--seconds", type=float)
    args = parser.parse_args(argv)
    if args.action == "tee":
        tee(args.table)
    elif args.action == "add":
        _append(args.table, [(args.scenario, args.step, args.seconds)])
    else:
        print(report(args.table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
