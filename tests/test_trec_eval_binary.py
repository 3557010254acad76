"""The workflow's evaluation against the official trec_eval 10.0 binary.

The binary is built from ../shared/tools/trec_eval into a temporary folder. Every
evaluation report records, per measure, the trec_eval command line that computes
it the same way (`trec_eval` key); these tests run exactly those command lines
(with -q) and compare every value, per query and aggregate, to 4 decimals: on
every evaluation file of the smoke study and on crafted cases where pytrec_eval
alone differs from trec_eval (ties at the cut-off, scores that collide in float32,
missing queries, relevance level 2, a judged query without results).
"""

from __future__ import annotations

import math
import shlex
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from crossopt.evaluate import evaluate_files
from crossopt.trec import format_run

ROOT = Path(__file__).resolve().parent.parent
SHARED_TOOLS = ROOT.parent / "shared" / "tools"
# trec_eval's name of each measure in its output, where it differs from ours.
OUTPUT_NAME = {"recip_rank_10": "recip_rank"}


@pytest.fixture(scope="module")
def trec_eval(tmp_path_factory) -> str:
    build = SHARED_TOOLS / "build-trec-eval"
    if not build.is_file():
        pytest.skip(f"no official trec_eval source: {build} is absent (the shared folder is not beside the repository)")
    if shutil.which("make") is None or not any(shutil.which(cc) for cc in ("cc", "gcc", "clang")):
        pytest.skip("no C compiler or make: the official trec_eval cannot be built (apt-get install build-essential)")
    done = subprocess.run([str(build), str(tmp_path_factory.mktemp("trec_eval"))], capture_output=True, text=True)
    assert done.returncode == 0, f"building trec_eval failed:\n{done.stderr[-3000:]}"
    binary = done.stdout.strip().splitlines()[-1]
    version = subprocess.run([binary, "-v"], capture_output=True, text=True)
    assert "10.0" in version.stdout + version.stderr
    return binary


def official(binary: str, argv: list[str], cwd: Path) -> dict[str, dict[str, float]]:
    """{query or 'all': {measure: value}} that trec_eval prints for `argv` (options, qrels, run) with -q."""
    done = subprocess.run([binary, "-q", *argv], capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, f"trec_eval {shlex.join(argv)} exited {done.returncode}: {done.stderr}"
    values: dict[str, dict[str, float]] = defaultdict(dict)
    for line in done.stdout.splitlines():
        measure, qid, value = line.split()
        values[qid][measure] = float(value)
    return values


def compare_report(binary: str, report: dict, cwd: Path) -> int:
    """Compare every measure of a report (and of its other levels) with trec_eval; return the count."""
    compared = 0
    for part in [report, *report.get("other_levels", {}).values()]:
        # One trec_eval call per set of options (the recorded command without its -m).
        groups: dict[tuple[str, ...], list[tuple[str, str]]] = defaultdict(list)
        for measure, command in part["trec_eval"].items():
            words = shlex.split(command)
            assert words[0] == "trec_eval", command
            i = words.index("-m")
            groups[tuple(words[1:i] + words[i + 2:])].append((measure, words[i + 1]))
        for options, members in groups.items():
            # trec_eval prints only one of `-m recall.100 -m recall.1000`: recall depths go one per call.
            others = [name for _, name in members if not name.startswith("recall.")]
            calls = ([others] if others else []) + [[name] for _, name in members if name.startswith("recall.")]
            printed: dict[str, dict[str, float]] = defaultdict(dict)
            for names in calls:
                argv = [*options[:-2], *(w for name in names for w in ("-m", name)), *options[-2:]]
                for qid, values in official(binary, argv, cwd).items():
                    printed[qid].update(values)
            assert set(printed) - {"all"} == set(part["per_query"]), (options, sorted(printed))
            for measure, name in members:
                shown = name.replace(".", "_")  # trec_eval prints recall.10 as recall_10
                for qid, values in [*part["per_query"].items(), ("all", part["aggregate"])]:
                    assert round(values[measure], 4) == pytest.approx(printed[qid][shown], abs=1e-9), (
                        f"{measure} {qid}: workflow {values[measure]:.6f}, trec_eval {printed[qid][shown]}; "
                        f"trec_eval {' '.join(options)}")
                    compared += 1
    return compared


def test_every_smoke_evaluation_equals_trec_eval(trec_eval, smoke_study, count_trec_eval_comparisons):
    reports = sorted((smoke_study / "results" / "eval").rglob("*.json"))
    runs = sorted((smoke_study / "results" / "runs").rglob("*.trec"))
    assert len(reports) == len(runs) == 74  # 36 checkpoints x 2 test sets + 2 BM25 runs
    import json

    compared = 0
    for path in reports:
        report = json.loads(path.read_text())
        compared += compare_report(trec_eval, report, smoke_study)
    count_trec_eval_comparisons(compared)
    print(f"\n{compared} values of {len(reports)} smoke evaluation files equal trec_eval 10.0 to 4 decimals")
    assert compared > 74 * 6 * 30


def _evaluate(tmp_path: Path, run_text: str, qrels_text: str, **options) -> dict:
    """Evaluate with paths relative to tmp_path (the current folder), as the workflow records them."""
    (tmp_path / "run.trec").write_text(run_text)
    (tmp_path / "qrels.txt").write_text(qrels_text)
    return evaluate_files("run.trec", "qrels.txt", tmp_path / "eval.json", "t", "s", **options)


QRELS = "q1 0 d00 1\nq1 0 d05 2\nq1 0 d11 1\nq2 0 a 1\nq2 0 b 0\nq3 0 x 2\nq3 0 y 1\nq4 0 z 1\n"


def _crafted_runs() -> dict[str, str]:
    twelve_tied = "".join(f"q1 Q0 d{i:02d} {i + 1} 1.0 tie\n" for i in range(12))
    writer = format_run({"q2": {"a": 1.0, "b": 1.0}, "q3": {"x": 16.0, "y": 16.0, "w": 16.0}}, tag="w")
    bm25_sized = "q3 Q0 x 1 16.0000001 s\nq3 Q0 y 2 16.0 s\nq3 Q0 w 3 15.9999999 s\n"
    # scores that differ below float32 precision; the rank column contradicts the scores
    collide = "q2 Q0 b 1 0.30000000000000004 s\nq2 Q0 a 2 0.3000000000000001 s\n"
    return {
        "ties at the cut-off": twelve_tied + "q2 Q0 a 1 2.0 tie\n",
        "run writer's tie offsets": writer,
        "BM25-sized scores": bm25_sized + "q1 Q0 d05 1 3.0 s\n",
        "float32 collision, rank column ignored": collide + twelve_tied,
        "one judged query only": "q4 Q0 z 1 1.0 s\nq9 Q0 z 1 1.0 s\n",
    }


@pytest.mark.parametrize("case", list(_crafted_runs()))
@pytest.mark.parametrize("level", [1, 2])
def test_crafted_runs_with_c_equal_trec_eval(trec_eval, tmp_path, monkeypatch, case, level,
                                            count_trec_eval_comparisons):
    monkeypatch.chdir(tmp_path)
    report = _evaluate(tmp_path, _crafted_runs()[case], QRELS, relevance_level=level, missing_queries="zero",
                       recall_depths=(1, 100), extra_levels=(1, 2))
    assert report["n_queries"] == 4  # missing queries are scored 0 (-c)
    count_trec_eval_comparisons(compare_report(trec_eval, report, tmp_path))


def test_known_differences_of_pytrec_eval_alone_are_gone(trec_eval, tmp_path, monkeypatch,
                                                         count_trec_eval_comparisons):
    """The two crafted cases where plain pytrec_eval disagreed with trec_eval."""
    monkeypatch.chdir(tmp_path)
    twelve_tied = "".join(f"q1 Q0 d{i:02d} {i + 1} 1.0 tie\n" for i in range(12))
    tied = _evaluate(tmp_path, twelve_tied, "q1 0 d00 1\n")
    # trec_eval puts d11 first and the relevant d00 12th: MRR@10 is 0, not 1 (ascending docid order)
    assert tied["per_query"]["q1"]["recip_rank_10"] == 0.0
    compared = compare_report(trec_eval, tied, tmp_path)
    collide = _evaluate(tmp_path, format_run({"q3": {"w": 5.0, "x": 5.0, "y": 5.0}}, tag="w"), QRELS)
    # The writer puts w, x, y in that order with offsets that vanish in float32.
    assert collide["per_query"]["q3"]["ndcg_cut_10"] == pytest.approx(
        (2 / math.log2(3) + 1 / math.log2(4)) / (2 + 1 / math.log2(3)))
    count_trec_eval_comparisons(compared + compare_report(trec_eval, collide, tmp_path))


def test_skip_equals_trec_eval_9_semantics_and_trec_eval_10_refuses(trec_eval, tmp_path, monkeypatch,
                                                                    count_trec_eval_comparisons):
    monkeypatch.chdir(tmp_path)
    run = _crafted_runs()["ties at the cut-off"]
    report = _evaluate(tmp_path, run, QRELS, missing_queries="skip", extra_levels=(2,))
    assert report["n_queries"] == 2 and report["queries_missing_from_run"] == ["q3", "q4"]
    refused = subprocess.run([trec_eval, *shlex.split(report["trec_eval"]["map"])[1:]], cwd=tmp_path,
                             capture_output=True, text=True)
    assert refused.returncode == 4  # trec_eval 10.0 without -c: a judged query is missing from the run
    # trec_eval 9's skip: the same as trec_eval 10.0 on the qrels of the queries the run has.
    kept = "".join(line + "\n" for line in QRELS.splitlines() if line.split()[0] in {"q1", "q2"})
    (tmp_path / "qrels.txt").write_text(kept)
    count_trec_eval_comparisons(compare_report(trec_eval, report, tmp_path))
