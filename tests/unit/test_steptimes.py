"""make test's time table: molecule's step lines become (scenario, step, seconds) rows."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("steptimes", ROOT / "molecule/shared/steptimes.py")
steptimes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(steptimes)

INFO = "\x1b[36mINFO    \x1b[0m "


def _step(action: str, what: str = "\x1b[36mExecuting\x1b[0m") -> str:
    return f"{INFO}\x1b[32mcoturn\x1b[0m \u279c \x1b[33m{action}\x1b[0m: {what}\n"


OUTPUT = (f"{INFO}Found config file /x/config.yml\n" + _step("discovery", "scenario test matrix")
          + _step("create") + "PLAY [Create] ****\n" + _step("converge")
          + _step("converge", "\x1b[32mExecuted: Successful\x1b[0m") + _step("verify"))


def test_molecule_steps_are_timed_and_the_output_passes_through(tmp_path):
    ticks = iter([0, 10, 70, 95, 95])
    table = tmp_path / "times.tsv"
    out = io.StringIO()
    steptimes.tee(table, io.StringIO(OUTPUT), out, clock=lambda: next(ticks))
    assert out.getvalue() == OUTPUT
    assert table.read_text().splitlines() == ["coturn\tcreate\t60", "coturn\tconverge\t25",
                                              "coturn\tverify\t0"]
    steptimes._append(table, [("make", "unit", 42)])
    report = steptimes.report(table)
    assert "coturn           85s  create 60, converge 25, verify 0" in report
    assert "make             42s  unit 42" in report
    assert report.splitlines()[-1].startswith("all             127s")


def test_a_step_announced_twice_is_one_row(tmp_path):
    # molecule announces verify twice (the verifier, then testinfra): one row, all its time
    ticks = iter([0, 5, 10, 90])
    table = tmp_path / "times.tsv"
    steptimes.tee(table, io.StringIO(_step("converge") + _step("verify") + _step("verify")),
                  io.StringIO(), clock=lambda: next(ticks))
    assert table.read_text().splitlines() == ["coturn\tconverge\t5", "coturn\tverify\t80"]


def test_lanes_report_their_wall_clock_beside_the_work(tmp_path):
    table = tmp_path / "times.tsv"
    steptimes._append(table, [("make", "unit", 60), ("stack", "converge", 600),
                              ("cluster", "converge", 500)])
    steptimes.add_row(table, "lanes", "wall clock", 700)
    lines = steptimes.report(table).splitlines()
    assert not any(line.startswith("lanes") for line in lines)
    assert lines[-2].startswith("all            1160s")
    assert lines[-1].startswith("wall clock      760s")


def test_the_whole_run_is_the_wall_clock_when_make_recorded_it(tmp_path):
    # lint beside unit and the integration tests in a lane overlap: the sum of make's
    # steps and the lanes would overstate the run
    table = tmp_path / "times.tsv"
    steptimes._append(table, [("make", "lint", 60), ("make", "unit", 55),
                              ("make", "integration", 300), ("stack", "converge", 600)])
    steptimes.add_row(table, "lanes", "wall clock", 700)
    steptimes.add_row(table, "run", "wall clock", 790)
    lines = steptimes.report(table).splitlines()
    assert not any(line.startswith(("lanes", "run")) for line in lines)
    assert lines[-2].startswith("all            1015s")
    assert lines[-1].startswith("wall clock      790s")
    assert "lanes side by side in 700 s" in lines[-1]


def test_a_failed_lane_item_ends_the_run_with_the_lines_that_say_why(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("lanes", ROOT / "molecule/shared/lanes.py")
    lanes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lanes)
    lines = ["collecting ...",
             "  \u2502 FAILED tests/test_tour.py::test_verify_passes_every_service - "
             "AssertionError: FAIL",
             '  \u2502 E   assert {"FAIL"} == {"PASS"}', "done"]
    script = "import sys; print(sys.argv[1]); sys.exit(1)"
    monkeypatch.setattr(lanes, "command", lambda name, table: (
        [sys.executable, "-c", script, "\n".join(lines)] if name == "make:bad" else ["true"]))
    assert lanes.main(["--table", str(tmp_path / "t.tsv"), "make:good", "make:bad"]) == 1
    out = capsys.readouterr().out
    tail = out.splitlines()[-3:]
    assert tail[0] == "=== [make:bad] why, its last lines of failure:"
    assert tail[1] == ("===     FAILED tests/test_tour.py::test_verify_passes_every_service - "
                       "AssertionError: FAIL")
    assert tail[2] == '===     E   assert {"FAIL"} == {"PASS"}'
    assert "===   make:bad: FAILED (exit 1)" in out
