"""`make mutation` as the README gives it, and the equivalent-mutant list it reads."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

from support import ROOT

HERE = ROOT / "mutation"


def _run_module():
    spec = importlib.util.spec_from_file_location("mutation_run", HERE / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_mutation_runs_the_script_with_the_module_asked_for() -> None:
    # GIVEN the README's command, as make reads the Makefile (dry run: nothing is built)
    out = subprocess.run(
        ["make", "-n", "mutation", "MODULE=names"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    line = next(line for line in out.splitlines() if "mutation/run.py" in line)
    # THEN it runs mutation/run.py niced for that module, and the script's parser takes those arguments
    assert line.startswith("nice -n 19 ") and line.endswith("mutation/run.py --module names")
    args = _run_module().parser().parse_args(["--module", "names"])
    assert args.module == ["names"]


def test_the_readmes_other_mutation_commands_parse() -> None:
    parser = _run_module().parser()
    assert parser.parse_args(["--recheck", "--module", "names"]).recheck
    assert parser.parse_args(["--report-only"]).report_only
    readme = (ROOT / "README.md").read_text()
    assert "`python mutation/run.py --recheck --module names`" in readme
    assert "`python mutation/run.py --report-only`" in readme


def test_every_equivalent_mutant_names_a_mutated_module_and_a_reason() -> None:
    run = _run_module()
    lines = [line for line in (HERE / "equivalent.txt").read_text().splitlines() if line and not line.startswith("#")]
    names = [line.partition(":")[0] for line in lines]
    assert len(names) == len(set(names)), "a mutant is listed twice"
    for line in lines:
        name, _, reason = line.partition(": ")
        match = re.fullmatch(r"paramwatch\.(\w+)\.x\S+__mutmut_\d+", name)
        assert match and match[1] in run.MODULES, line
        assert len(reason.split()) >= 4, f"no reason given: {line}"


def test_the_report_flags_equivalents_that_were_killed_or_are_gone(tmp_path: Path, capsys) -> None:
    # GIVEN an equivalent list naming a killed mutant, a vanished one and a true survivor
    run = _run_module()
    listed = tmp_path / "equivalent.txt"
    listed.write_text(
        "paramwatch.names.x_a__mutmut_1: the reason it behaves the same\n"
        "paramwatch.names.x_a__mutmut_2: the reason it behaves the same\n"
        "paramwatch.names.x_a__mutmut_3: the reason it behaves the same\n"
    )
    status = {f"paramwatch.names.x_a__mutmut_{i}": s for i, s in [(1, "killed"), (3, "survived"), (4, "killed")]}
    # WHEN the report is made
    code = run.report(status, ["names"], {}, equivalent=listed)
    out = capsys.readouterr().out
    # THEN the killed and the vanished entries are called stale, and the run fails until they go
    assert "stale: paramwatch.names.x_a__mutmut_1 " in out and "stale: paramwatch.names.x_a__mutmut_2 " in out
    assert "mutmut_3 " not in out.split("stale")[-1]
    assert code == 1
    # and the score counts killed over all but the equivalent: 2 killed of 2 judged
    assert re.search(r"^names\s+3\s+2\s+1\s+100\.0%", out, re.M)
