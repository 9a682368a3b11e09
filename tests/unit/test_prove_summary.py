"""The prove summary: a part left out with --part reads "not run", not a failure; a failed check
in a part that ran reads NO."""

from __future__ import annotations

from rich.console import Console

from gureum.prove.checks import Results
from gureum.prove.suite import summary


def _rows(res: Results) -> dict[str, str]:
    console = Console(width=200, record=True, color_system=None)
    console.print(summary(res))
    lines = console.export_text().splitlines()
    return {what: next(ln for ln in lines if what in ln) for what in
            ("load held", "faults survived", "bad inputs tried", "leaks found", "data lost")}


def test_only_the_parts_that_ran_are_judged() -> None:
    res = Results()
    res.check("badinput.schema_no_5xx", True)
    rows = _rows(res)
    assert "yes" in rows["bad inputs tried"]
    for what in ("load held", "faults survived", "leaks found", "data lost"):
        assert "not run" in rows[what] and "NO" not in rows[what], rows[what]


def test_a_failed_check_reads_no() -> None:
    res = Results()
    res.check("load.zero_errors", False, "3 failed")
    res.check("load.audit_exactly_once", True)
    rows = _rows(res)
    assert "NO" in rows["load held"] and "yes" in rows["data lost"]
    res.lost.append("req-1")
    assert "NO" in _rows(res)["data lost"]
