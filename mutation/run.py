"""`make mutation`: mutmut over the security-critical library modules, then the score.

mutmut names each mutant after the module path it finds on disk, so the library is copied to the
top of a staging folder (build/mutation/paramwatch) where that path is the import name. Each mutant
runs only the unit tests that reach the mutated function (mutmut records which ones do).

The score counts killed and timed-out mutants over all mutants, less the ones triaged as
equivalent in mutation/equivalent.txt (one line each: mutant name, a colon, the reason). Every
other survivor is listed; a survivor is either killed by a new test or gets a line there.

Usage: python mutation/run.py [--module NAME ...] [--keep] [--recheck] [--report-only]
Each module's result is kept in build/mutation-results/: run modules one at a time, add tests, run
--recheck (only the survivors run again, and every mutant of a function whose code changed), and
--report-only sums them up.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "mutation"
# one staging folder per set of modules (build/mutation/names, build/mutation/all), so that a later
# run (--keep, --recheck) reuses its mutants and test statistics
STAGES = Path(os.environ.get("MUTATION_STAGE", ROOT / "build" / "mutation"))
STAGE = STAGES / "all"
# each module's last result (statuses and wall time), so that runs of one module add up to a full report
RESULTS = STAGES.parent / "mutation-results"
MODULES = ("names", "identity", "access", "allowlist", "matching", "rules", "escape", "render", "detector")
KILLED = {"killed", "timeout"}
MUTMUT = ROOT / ".venv-mutation" / "bin" / "mutmut"


def read_equivalent(path: Path = HERE / "equivalent.txt") -> dict[str, str]:
    """Mutant name -> the reason it cannot be killed (behaves exactly like the original)."""
    triaged: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, reason = line.partition(":")
            triaged[name.strip()] = reason.strip()
    return triaged


def stage(modules: list[str], keep: bool) -> None:
    """Copy the library, the unit tests and the events into the staging folder."""
    if STAGE.exists() and not keep:
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True, exist_ok=True)
    for name in ("paramwatch", "paramwatch_aws", "tests", "events", "docs", "functions", "mutation"):
        shutil.rmtree(STAGE / name, ignore_errors=True)
    shutil.copytree(ROOT / "layers" / "paramwatch" / "paramwatch", STAGE / "paramwatch")
    # what the unit tests read besides the library: the AWS adapters, events, docs, README, template,
    # this folder
    shutil.copytree(ROOT / "layers" / "paramwatch" / "paramwatch_aws", STAGE / "paramwatch_aws")
    for name in ("events", "docs", "functions", "mutation"):
        shutil.copytree(ROOT / name, STAGE / name)
    for name in ("README.md", "template.yaml", "Makefile", "samconfig.toml"):
        shutil.copy2(ROOT / name, STAGE / name)
    (STAGE / "tests").mkdir()
    for name in ("conftest.py", "support.py"):
        shutil.copy2(ROOT / "tests" / name, STAGE / "tests" / name)
    shutil.copytree(ROOT / "tests" / "unit", STAGE / "tests" / "unit")
    shutil.copytree(ROOT / "tests" / "fuzz", STAGE / "tests" / "fuzz")
    config = tomllib.loads((HERE / "pyproject.toml").read_text())
    selected = ", ".join(f'"paramwatch/{m}.py"' for m in modules)
    text = (HERE / "pyproject.toml").read_text()
    text = re.sub(r"only_mutate = \[.*?\]", f"only_mutate = [{selected}]", text, flags=re.S)
    assert config["tool"]["mutmut"]["source_paths"] == ["paramwatch"]
    (STAGE / "pyproject.toml").write_text(text)
    # The real trail (../shared/datasets) is left out: its tests take seconds per mutant.


def results() -> dict[str, str]:
    """Mutant name -> status, for every mutant of the selected modules."""
    out = subprocess.run([str(MUTMUT), "results", "--all", "true"], cwd=STAGE, capture_output=True, text=True)
    status: dict[str, str] = {}
    for line in out.stdout.splitlines():
        name, sep, state = line.strip().rpartition(": ")
        if sep and name.startswith("paramwatch."):
            status[name] = state
    return status


_DIFFS = """
import sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
for name in sys.stdin.read().split():
    try:
        lines = get_diff_for_mutant(name).splitlines()
    except Exception as exc:  # noqa: BLE001 - one unreadable mutant must not hide the others
        lines = [f"- (no diff: {exc})"]
    print(name, *(line for line in lines if line[:1] in "+-" and line[:3] not in ("+++", "---")), sep="\\n    ")
"""


def write_survivors(status: dict[str, str], modules: list[str]) -> None:
    """Each module's untriaged survivors with their diffs, to read after the staging folder is gone."""
    triaged = read_equivalent()
    for module in modules:
        names = [n for n, s in status.items() if n.startswith(f"paramwatch.{module}.") and s not in KILLED]
        names = [n for n in names if n not in triaged and status[n] != "not checked"]
        python = MUTMUT.parent / "python"
        out = subprocess.run(
            [str(python), "-c", _DIFFS], cwd=STAGE, input=" ".join(names), capture_output=True, text=True
        )
        (RESULTS / f"{module}.survivors.txt").write_text(out.stdout or out.stderr)


def report(
    status: dict[str, str], modules: list[str], seconds: dict[str, float], equivalent: Path = HERE / "equivalent.txt"
) -> int:
    """Print the score per module and overall, and every survivor not triaged as equivalent."""
    triaged = read_equivalent(equivalent)
    untriaged: list[str] = []
    rows = []
    totals = [0, 0, 0]
    unchecked = sum(state == "not checked" for state in status.values())
    for module in modules:
        names = [n for n in status if n.startswith(f"paramwatch.{module}.") and status[n] != "not checked"]
        killed = sum(status[n] in KILLED for n in names)
        equivalent = sum(n in triaged and status[n] not in KILLED for n in names)
        untriaged += [f"{n}: {status[n]}" for n in names if status[n] not in KILLED and n not in triaged]
        rows.append((module, len(names), killed, equivalent))
        totals = [totals[0] + len(names), totals[1] + killed, totals[2] + equivalent]
    print(f"{'module':<10} {'mutants':>8} {'killed':>8} {'equiv':>6} {'score':>7} {'seconds':>8}")
    for module, total, killed, equivalent in [*rows, ("all", *totals)]:
        judged = total - equivalent
        score = 100.0 * killed / judged if judged else 100.0
        took = sum(seconds.values()) if module == "all" else seconds.get(module)
        took_text = "" if took is None else str(round(took))
        print(f"{module:<10} {total:>8} {killed:>8} {equivalent:>6} {score:>6.1f}% {took_text:>8}")
    # a line is stale when its mutant was killed, or is gone (its function changed, and mutmut
    # numbers a function's mutants afresh: the line may now name another mutant)
    stale = [n for n in triaged if n in status and status[n] in KILLED]
    stale += [n for n in triaged if n not in status and n.split(".")[1] in modules]
    for name in stale:
        print(f"stale: {name} is triaged as equivalent but was {status.get(name, 'not found')}; remove its line")
    if untriaged:
        print(f"\n{len(untriaged)} survivor(s) neither killed nor triaged (diffs in {RESULTS}/MODULE.survivors.txt):")
        print("\n".join(f"  {line}" for line in untriaged))
    if unchecked:
        print(f"\n{unchecked} mutant(s) not checked yet (an interrupted run): the score covers the others")
    judged = totals[0] - totals[2]
    return 0 if not stale and (judged == 0 or totals[1] / judged >= 0.9) else 1


def save(status: dict[str, str], modules: list[str], seconds: dict[str, float | None]) -> None:
    """Keep each module's statuses and the wall time of its last full run (None when it ran with others)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    for module in modules:
        mine = {n: s for n, s in status.items() if n.startswith(f"paramwatch.{module}.")}
        took = seconds.get(module)
        (RESULTS / f"{module}.json").write_text(json.dumps({"seconds": took, "status": mine}, indent=0))


def saved(modules: list[str]) -> tuple[dict[str, str], dict[str, float]]:
    """The last saved result of each module that has one."""
    status: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for module in modules:
        path = RESULTS / f"{module}.json"
        if path.exists():
            data = json.loads(path.read_text())
            status.update(data["status"])
            if data["seconds"] is not None:
                seconds[module] = data["seconds"]
    return status, seconds


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", choices=MODULES, help="only this module (repeatable)")
    parser.add_argument("--keep", action="store_true", help="reuse the staging folder (incremental run)")
    parser.add_argument("--report-only", action="store_true", help="print the score of each module's last run")
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="run again the untriaged survivors (after adding tests) and every mutant of a changed function",
    )
    return parser


def mutmut_run(names: list[str]) -> tuple[int, float]:
    """Run mutmut in the staging folder (on `names` only, if given): its exit code and wall time."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    start = time.monotonic()
    jobs = os.environ.get("MUTATION_JOBS", "2")
    run = subprocess.run([str(MUTMUT), "run", "--max-children", jobs, *names], cwd=STAGE, env=env)
    if run.returncode:
        print(f"mutmut run failed with exit code {run.returncode}", file=sys.stderr)
    return run.returncode, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    global STAGE
    args = parser().parse_args(argv)
    modules = args.module or list(MODULES)
    STAGE = STAGES / ("all" if set(modules) == set(MODULES) else "-".join(modules))
    if args.report_only or args.recheck:
        status, seconds = saved(modules)
        missing = [m for m in modules if not any(n.startswith(f"paramwatch.{m}.") for n in status)]
        if missing:
            print(f"no saved result for {', '.join(missing)}: run them first", file=sys.stderr)
            return 2
        if args.recheck:
            triaged = read_equivalent()
            again = [n for n, state in status.items() if state not in KILLED and n not in triaged]
            stage(modules, keep=True)
            code, _ = mutmut_run(again)
            if code:
                return code
            # mutmut forgets the results of a function whose code changed (and numbers its mutants
            # afresh): run those too, and drop the names that no longer exist
            fresh = {n: s for n, s in results().items() if n.split(".")[1] in modules}
            unchecked = [n for n, state in fresh.items() if state == "not checked"]
            if unchecked:
                code, _ = mutmut_run(unchecked)
                if code:
                    return code
                fresh = {n: s for n, s in results().items() if n.split(".")[1] in modules}
            status = {n: s for n, s in status.items() if n in fresh}
            status.update({n: fresh[n] for n in [*again, *unchecked] if n in fresh})
            save(status, modules, {m: seconds.get(m) for m in modules})
            write_survivors(status, modules)
        return report(status, modules, seconds)
    stage(modules, args.keep)
    code, took = mutmut_run([])
    if code:
        return code
    status = results()
    (STAGE / "status.json").write_text(json.dumps(status, indent=0, sort_keys=True))
    save(status, modules, {m: took if len(modules) == 1 else None for m in modules})
    write_survivors(status, modules)
    return report(status, modules, {m: took for m in modules} if len(modules) == 1 else {"all": took})


if __name__ == "__main__":
    sys.exit(main())
