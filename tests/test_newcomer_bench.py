"""bench/newcomer.py's reading of a finished run, on a small real Snakemake workflow.

The benchmark itself (a fresh clone, make setup, smoke and test) takes half an hour and is
not run here. What it reads back is: a tiny workflow with a script rule (benchmarked, logging
through crossopt.logs.log_to like the project's scripts) and a shell rule is run by
Snakemake with the benchmark's recorder on PYTHONPATH, once as if a test had started it,
and the analysis must find its jobs, benchmarks, fixed costs and the test that ran them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import newcomer  # noqa: E402

SNAKEFILE = textwrap.dedent("""\
    rule all:
        input: expand("out/{n}.txt", n=[1, 2, 3]), "out/summary.txt"

    rule work:
        output: "out/{n}.txt"
        log: "logs/work/{n}.log"
        benchmark: "benchmarks/work/{n}.tsv"
        script: "work.py"

    rule summary:
        input: expand("out/{n}.txt", n=[1, 2, 3])
        output: "out/summary.txt"
        log: "logs/summary.log"
        shell: "cat {input} > {output} 2> {log}"
""")

# Like the project's scripts: light imports at the top, the log opened by log_to, a heavier
# import inside the work (which only the recorder's start-up measure sees).
SCRIPT = textwrap.dedent("""\
    import time
    from crossopt.logs import log_to

    with log_to(snakemake.log[0]):
        import decimal, fractions, statistics
        time.sleep(0.3)
        print("worked")
        open(snakemake.output[0], "w").write(snakemake.wildcards.n + "\\n")
""")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("newcomer")
    (work / "Snakefile").write_text(SNAKEFILE)
    (work / "work.py").write_text(SCRIPT)
    site = work / "recorder"
    site.mkdir()
    (site / "sitecustomize.py").write_text(newcomer.SITECUSTOMIZE)
    records = work / "records.jsonl"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]), NEWCOMER_RECORDS=str(records),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTEST_CURRENT_TEST="tests/test_example.py::test_runs_the_tiny_workflow (call)")
    command = [sys.executable, "-m", "snakemake", "--cores", "1", "--directory", str(work), "-s", str(work / "Snakefile")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    # A dry run afterwards, as a test's planning step: it finishes no job, so it runs no rule.
    dry = dict(env, PYTEST_CURRENT_TEST="tests/test_example.py::test_only_plans (call)")
    subprocess.run([*command, "-n", "--forceall"], capture_output=True, text=True, env=dry, cwd=work, check=True)
    return work, newcomer.read_records(records)


def test_jobs_benchmarks_and_shares(tiny_run):
    work, records = tiny_run
    analysis = newcomer.analyze(work, records)
    rows = {row["rule"]: row for row in analysis["rules"]}
    assert set(rows) == {"work", "summary"}  # `all` has no output, so no metadata
    assert rows["work"]["jobs"] == 3 and rows["work"]["benchmarked"] == 3
    assert rows["summary"]["jobs"] == 1 and rows["summary"]["benchmarked"] == 0 and rows["summary"]["shell"]
    assert analysis["unmatched_benchmarks"] == []
    assert abs(sum(row["share"] for row in analysis["rules"]) - 1) < 0.01
    benchmarked = [float((work / f"benchmarks/work/{n}.tsv").read_text().splitlines()[1].split("\t")[0])
                   for n in (1, 2, 3)]
    assert rows["work"]["total_s"] == pytest.approx(sum(benchmarked), abs=0.2)
    assert rows["work"]["mean_s"] >= 0.3  # each job sleeps 0.3 s


def test_fixed_costs_both_ways(tiny_run):
    work, records = tiny_run
    analysis = newcomer.analyze(work, records)
    work_row = newcomer.rule_row(analysis, "work")
    # The log opens after the interpreter and the script's top-level imports, before its work.
    assert 0 < work_row["to_log_open_s"] < work_row["mean_s"]
    assert newcomer.rule_row(analysis, "summary")["to_log_open_s"] is None  # shell: not measured
    # The recorder saw every script job: its imports include those made inside the work.
    assert analysis["startup_measured"] == analysis["script_jobs"] == 3
    assert work_row["imports_s"] > 0 and work_row["interpreter_s"] > 0
    assert work_row["startup_s"] == pytest.approx(
        work_row["spawn_s"] + work_row["interpreter_s"] + work_row["imports_s"], abs=0.02)
    assert work_row["startup_s"] < work_row["mean_s"] + 1
    # Without the recorder's records (an older run) the log measure still stands.
    assert newcomer.rule_row(newcomer.analyze(work), "work")["startup_s"] is None


def test_rules_and_the_tests_that_ran_them(tiny_run):
    _, records = tiny_run
    assert any(r["kind"] == "snakemake" and "test_only_plans" in (r["test"] or "") for r in records)
    runs = newcomer.rules_run_by_tests(records)
    assert runs["work"] == runs["summary"] == {"tests/test_example.py::test_runs_the_tiny_workflow"}
    assert runs["all"] == {"tests/test_example.py::test_runs_the_tiny_workflow"}


def test_analyze_existing_prints_the_table(tiny_run, tmp_path):
    work, _ = tiny_run
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "newcomer.py"), "--analyze-existing", str(work),
                           "--json", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "4 jobs" in done.stdout and "\nwork " in done.stdout and "shell" in done.stdout
    assert json.loads(out.read_text())["jobs"] == 4
    missing = subprocess.run([sys.executable, str(ROOT / "bench" / "newcomer.py"), "--analyze-existing",
                              str(tmp_path)], capture_output=True, text=True)
    assert missing.returncode != 0 and "holds no finished Snakemake run" in missing.stderr


def test_the_performance_row_goes_into_its_table(tmp_path):
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\n## Other\n\n| a |\n|---|\n| 1 |\n")
    newcomer.append_performance_row(doc, "| first |")
    newcomer.append_performance_row(doc, "| second |")
    text = doc.read_text()
    before, section = text.split(newcomer.SECTION)
    assert "| 1 |" in before and "first" not in before  # the other table is left alone
    table = [line for line in section.splitlines() if line.startswith("|")]
    assert table == [*newcomer.TABLE_HEADER.splitlines(), "| first |", "| second |"]
    # Text after the table stays after it.
    doc.write_text(text + "\nA note below the table.\n")
    newcomer.append_performance_row(doc, "| third |")
    lines = doc.read_text().splitlines()
    assert lines.index("| third |") == lines.index("| second |") + 1 < lines.index("A note below the table.")


def test_every_rule_is_listed_and_the_row_is_complete():
    rules = newcomer.defined_rules(ROOT)
    assert {"download_beir", "rerank", "train", "evaluate", "paper_pdf", "all"} <= set(rules)
    report = {"date": "2026-12-07", "commit": "0123456789abcdef", "load_before": 0.1, "load_after": 0.2,
              "machine": {"cpu": "CPU", "cores": 2},
              "timed": {"setup": {"seconds": 100.0, "returncode": 0, "load_mean": 1.0},
                        "smoke": {"seconds": 200.0, "returncode": 0, "load_mean": 1.5}},
              "smoke": {"jobs": 182, "mean_startup_s": 3.5,
                        "rules": [{"rule": "rerank", "startup_s": 9.1, "to_log_open_s": 0.8}]}}
    row = newcomer.performance_row(report)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert len(cells) == len(newcomer.TABLE_HEADER.splitlines()[0].strip("|").split("|"))
    assert cells[5:8] == ["100", "200", "not run"] and cells[9:12] == ["3.50", "9.10", "0.80"]
    assert newcomer.tests_summary_line("== 458 passed, 3 skipped in 912.3s ==") == "458 passed, 3 skipped"


@pytest.mark.parametrize("script", ["newcomer.py", "scifact_run.py"])
def test_a_bench_script_starts_without_the_package_installed(script, tmp_path):
    """The README runs `python bench/<script>.py`: with site-packages off (so no editable
    install of crossopt) and from another folder, the script still finds the package."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if script == "scifact_run.py":
        # It needs PyYAML: its folder goes on the path, but with -S its .pth files (the
        # editable install among them) are not read.
        yaml = pytest.importorskip("yaml")
        env["PYTHONPATH"] = str(Path(yaml.__file__).resolve().parent.parent)
    result = subprocess.run(
        [sys.executable, "-S", str(ROOT / "bench" / script), "--help"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:"), result.stdout


def test_the_smoke_run_counts_for_the_tests_when_they_reuse_it(tmp_path):
    """`make test` reads a copy of `make smoke`'s run once a test's `snakemake -n` in the clone
    planned nothing: the bench names that check, and only a dry run in the clone itself counts."""
    clone = tmp_path / "clone"
    clone.mkdir()
    def record(argv, test, cwd=clone):
        return {"kind": "snakemake", "argv": argv, "test": test, "cwd": str(cwd), "site_time": 0.0}
    other = tmp_path / "elsewhere"
    smoke = ["--configfile", "config/smoke.yaml"]
    records = [
        record(["python", "-m", "snakemake", "--directory", str(other), *smoke, "-n", "all"], "tests/a.py::t (call)"),
        # a dry run in the clone with another config, or of another target, is not the check
        record(["python", "-m", "snakemake", "--directory", str(clone), "--configfile", "config.yaml", "-n", "all"],
               "tests/d.py::t (call)"),
        record(["python", "-m", "snakemake", "--directory", str(clone), *smoke, "-n", "results/table.tsv"],
               "tests/e.py::t (call)"),
        record(["python", "-m", "snakemake", "--directory", str(clone), "all"], "tests/b.py::t (call)"),
        {"kind": "script", "argv": ["python", "x.py", "-n"], "test": "tests/c.py::t (call)", "cwd": str(clone)},
    ]
    assert newcomer.smoke_reused_by_tests(records, clone) is None
    records.append(record(["python", "-m", "snakemake", "--directory", str(clone), *smoke, "-n", "all"],
                          "tests/test_workflow.py::test_x (setup)"))
    assert newcomer.smoke_reused_by_tests(records, clone) == "tests/test_workflow.py::test_x"


def test_a_benchmark_named_after_its_jobs_output_folder_goes_to_that_job(tmp_path):
    """The reranking job of a run writes runs under .../seed12/epoch{e}/ and its benchmark as
    benchmarks/rerank/m/o/seed12.tsv; an evaluation that ended as close in time and shares the
    folder's name must not take it."""
    import time as clock

    now = clock.time()
    rerank = newcomer.Job("rerank", [f"results/runs/m/o/seed12/epoch{e}/{t}.trec" for e in (1, 2) for t in "ab"],
                          ["logs/runs/m/o/seed12/rerank.log"], now - 20, now, False)
    evaluate = newcomer.Job("evaluate", ["results/eval/m/o/seed12/epoch1/a.json"],
                            ["logs/eval/m/o/seed12/epoch1/a.log"], now - 1, now + 0.5, False)
    for relative in ("benchmarks/rerank/m/o/seed12.tsv", "benchmarks/eval/m/o/seed12/epoch1/a.tsv"):
        path = tmp_path / relative
        path.parent.mkdir(parents=True)
        path.write_text("s\th:m:s\n12.5\t0:00:12\n")
    assert newcomer.attach_benchmarks([rerank, evaluate], tmp_path) == []
    assert rerank.benchmark == "benchmarks/rerank/m/o/seed12.tsv" and rerank.seconds == 12.5
    assert evaluate.benchmark == "benchmarks/eval/m/o/seed12/epoch1/a.tsv"
    # without a benchmark of its own, the evaluation (whose folder also ends in seed12, two
    # levels up) still loses the run's benchmark to the job whose log folder names it
    (tmp_path / "benchmarks/eval/m/o/seed12/epoch1/a.tsv").unlink()
    rerank.benchmark = evaluate.benchmark = None
    assert newcomer.attach_benchmarks([evaluate, rerank], tmp_path) == []
    assert rerank.benchmark == "benchmarks/rerank/m/o/seed12.tsv" and evaluate.benchmark is None


def test_the_rerank_fixed_cost_is_compared_per_job_and_per_run_file():
    """--baseline: six one-file jobs of 9 s start-up each against one six-file job of 8 s."""
    def job(outputs, startup, seconds):
        return newcomer.Job("rerank", outputs, [], 0.0, seconds, False,
                            startup={"total": startup, "imports": startup - 1, "interpreter": 0.5, "spawn": 0.5})

    files = [f"results/runs/m/o/seed1/epoch{e}/{t}.trec" for e in (1, 2, 3) for t in ("a", "b")]
    baseline = {"rules": newcomer.per_rule([job([name], 9.0, 12.0) for name in files])}
    head = {"rules": newcomer.per_rule([job([*files, "results/runs/m/o/seed1/rerank.cost.json"], 8.0, 20.0)])}
    comparison = newcomer.compare_rerank(head, baseline)
    assert comparison["baseline"]["run_files_per_job"] == 1.0 and comparison["head"]["run_files_per_job"] == 6.0
    assert comparison["head"]["startup_per_run_file_s"] == pytest.approx(8 / 6, abs=0.01)
    assert comparison["ratio_startup_per_job"] == pytest.approx(8 / 9, abs=1e-3)
    assert comparison["ratio_startup_per_run_file"] == pytest.approx(8 / 6 / 9, abs=2e-3)
    assert comparison["ratio_startup_all_jobs"] == pytest.approx(8 / 54, abs=1e-3)
    assert comparison["ratio_job_seconds"] == pytest.approx(20 / 72, abs=1e-3)
    text = newcomer.format_comparison(comparison, "a" * 40, "b" * 40)
    assert "per run file 0.148" in text and "start-up per job 0.889" in text


def test_make_smokes_own_log_credits_its_target_rules(tmp_path):
    """`all` leaves no metadata; the rules make smoke ran come from its own Snakemake log (the
    process no test started), not from the tests' runs or from other folders."""
    import datetime as dt
    import time as time_

    clone = tmp_path / "clone"
    (clone / ".snakemake" / "log").mkdir(parents=True)
    started = time_.time()
    name = dt.datetime.fromtimestamp(started).strftime("%Y-%m-%dT%H%M%S.%f")
    (clone / ".snakemake" / "log" / f"{name}.snakemake.log").write_text(
        "Finished jobid: 3 (Rule: train)\nFinished jobid: 0 (Rule: all)\n")
    def record(test, cwd):
        return {"kind": "snakemake", "argv": ["python", "-m", "snakemake", "all"], "test": test, "cwd": str(cwd),
                "site_time": started, "end_time": started + 60}
    assert newcomer.rules_run_by_smoke([record(None, clone)], clone) == {"train", "all"}
    assert newcomer.rules_run_by_smoke([record("tests/a.py::t (call)", clone)], clone) == set()
    assert newcomer.rules_run_by_smoke([record(None, tmp_path)], clone) == set()


def test_the_row_skips_other_tables_of_the_section(tmp_path):
    """docs/performance.md's section has a per-rule table above the newcomer table: a row
    belongs to the table with the newcomer header, wherever it is in the section."""
    doc = tmp_path / "performance.md"
    doc.write_text(f"{newcomer.SECTION}\n\n| rule | jobs |\n|---|---|\n| rerank | 12 |\n\nText.\n\n"
                   f"{newcomer.TABLE_HEADER}\n| old row |\n")
    newcomer.append_performance_row(doc, "| new row |")
    lines = doc.read_text().splitlines()
    assert lines[lines.index("| rerank | 12 |") + 1] == "" and lines[-1] == "| new row |"
    assert lines.index("| new row |") == lines.index("| old row |") + 1
