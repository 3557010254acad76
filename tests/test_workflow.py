"""End to end: the smoke study through Snakemake, offline, on CPU (a few minutes).

One run of the whole DAG (the session fixture `smoke_study`) feeds every test here, through a copy
of it; the later tests rerun parts of that copy and check what reruns and that reruns reproduce
files exactly.
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_study
from crossopt.table import table_header
from crossopt.study import Study
from crossopt.trec import read_run

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(ROOT / "config" / "smoke.yaml"), "--cores", "2", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


@pytest.fixture(scope="module")
def study(smoke_study, tmp_path_factory):
    """A copy of the session's smoke run (tests/conftest.py). Tests here rerun parts of it, so
    they work on their own copy: the other tests that read the session's run (in whatever
    order, and in parallel workers) find it as `make smoke` left it."""
    return copy_study(smoke_study, tmp_path_factory.mktemp("workflow") / "study")


def planned_rule_counts(output: str) -> dict[str, int]:
    """{rule: jobs} from the job table of `snakemake -n --quiet rules`."""
    counts = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].isdigit():
            counts[fields[0]] = int(fields[1])
    return counts


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_table_has_every_row_and_valid_values(study):
    lines = (study / "results" / "table.tsv").read_text().splitlines()
    header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:]]
    assert header == table_header(Study.load(ROOT / "config" / "smoke.yaml").columns)
    assert rows[0][:3] == ["BM25", "-", "-"]
    expected = {(m, o, str(e)) for m in ("MiniLM-L12-H384", "GTE-multilingual-base", "ModernBERT-base")
                for o in ("AdamW", "Lion") for e in (1, 2, 3)}
    assert {tuple(r[:3]) for r in rows[1:]} == expected and len(rows) == 19
    for row in rows:
        values = [float(v) for v in row[3:]]
        assert all(0.0 <= v <= 1.0 for v in values), row
    # BM25 finds some but not all relevant passages: there is room for reranking.
    bm25 = [float(v) for v in rows[0][3:]]
    assert 0.05 < bm25[0] < 0.95


def test_second_relevance_level_table_and_significance(study):
    level1 = (study / "results" / "table.tsv").read_text().splitlines()
    level2 = (study / "results" / "table_level2.tsv").read_text().splitlines()
    assert level1[0] == level2[0] and len(level1) == len(level2)
    # nDCG@10 uses grades, so it is the same at both levels; MAP counts fewer relevant passages at level 2.
    assert [r.split("\t")[3] for r in level1] == [r.split("\t")[3] for r in level2]
    assert [r.split("\t")[4] for r in level1] != [r.split("\t")[4] for r in level2]
    significance = (study / "results" / "stats" / "significance.tsv").read_text().splitlines()
    header = significance[0].split("\t")
    families = {line.split("\t")[header.index("family")] for line in significance[1:]}
    assert families == {"lion_vs_adamw", "vs_bm25"}
    # 3 models x 3 epochs x 6 table columns
    assert sum(line.startswith("lion_vs_adamw") for line in significance[1:]) == 54


def test_every_epoch_checkpoint_and_run_exists(study):
    for model in ("minilm", "gte", "modernbert"):
        for optim in ("adamw", "lion"):
            base = study / "results" / "models" / model / optim / "seed12"
            assert (base / "trainer_state.json").exists()
            for epoch in (1, 2, 3):
                assert (base / f"epoch{epoch}" / "config.json").exists()
                assert not (base / f"epoch{epoch}" / "optimizer.pt").exists()
                for testset in ("smoke-dl", "smoke-dev"):
                    run = study / "results" / "runs" / model / optim / "seed12" / f"epoch{epoch}" / f"{testset}.trec"
                    entries = read_run(run)
                    by_query = {}
                    for e in entries:
                        by_query.setdefault(e.qid, []).append(e.score)
                    assert all(all(a > b for a, b in zip(s, s[1:])) for s in by_query.values())


def test_smoke_paper_is_built_and_marked_as_toy(study):
    pdf = study / "paper" / "build" / "main.pdf"
    assert pdf.exists() and pdf.stat().st_size > 10_000
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-l", "1", str(pdf), "-"], capture_output=True, text=True).stdout
        assert "smoke" in text.lower() or "toy" in text.lower()


def _table_int(tex: str, pattern: str) -> list[int]:
    import re

    match = re.search(pattern, tex)
    assert match, pattern
    return [int(group.replace("{,}", "")) for group in match.groups()]


def test_hyperparameter_table_states_the_schedule_the_trainer_applied(study):
    """The paper's 'as applied' numbers against a smoke training's own log: its total steps,
    and a learning rate that rises until the stated warm-up step and falls after it."""
    import json

    tex = (study / "results" / "paper" / "hyperparameters.tex").read_text()
    per_epoch, total = _table_int(tex, r"Steps per epoch, total & ([\d{},]+), ([\d{},]+)")
    (warmup,) = _table_int(tex, r"Warm-up & ratio [\d.]+, ([\d{},]+) steps")
    state = json.loads((study / "results" / "models" / "minilm" / "adamw" / "seed12" /
                        "trainer_state.json").read_text())
    assert state["max_steps"] == total and total == per_epoch * state["num_train_epochs"]
    trace = [(e["step"], e["learning_rate"]) for e in state["log_history"] if "loss" in e]
    rising = [lr for step, lr in trace if step <= warmup]
    falling = [lr for step, lr in trace if step >= warmup]
    assert len(rising) >= 2 and len(falling) >= 2, trace
    assert rising == sorted(rising) and falling == sorted(falling, reverse=True), trace
    # smoke.yaml: minilm runs `linear` (what trainer_default gives): the rate ends near zero.
    assert falling[-1] < 0.1 * max(rising + falling)


def test_the_table_target_rebuilds_the_table_and_nothing_else(study, tmp_path):
    """`snakemake table` (README's target for the table alone) on a finished study whose table
    was removed: the table is written again, byte for byte, by results_table; the target rule
    runs after it, and nothing else runs (the paper that reads the table is not a target)."""
    from conftest import copy_study

    copy = copy_study(study, tmp_path / "study")
    table = copy / "results" / "table.tsv"
    before = table.read_bytes()
    table.unlink()
    log = snakemake(copy, "table")
    output = log.stdout + log.stderr
    finished = re.findall(r"Finished job(?:id)?:? \d+ \(Rule: (\w+)\)", output)
    assert finished == ["results_table", "table"], output[-3000:]
    assert table.read_bytes() == before


def test_forcerun_rerank_reruns_only_what_depends_on_it(study):
    result = snakemake(study, "results/table.tsv", "-n", "--forcerun", "rerank", "--quiet", "rules")
    jobs = result.stdout + result.stderr
    assert "rerank" in jobs and "evaluate" in jobs and "results_table" in jobs
    for upstream in ("train ", "bm25_search", "bm25_index", "smoke_collection", "tiny_model"):
        assert upstream not in jobs, jobs


def test_retraining_reproduces_identical_run_files(study):
    """One training run (minilm, AdamW, seed 12) trained and reranked again from nothing."""
    run = "minilm/adamw/seed12"
    runs = sorted((study / "results" / "runs" / run).rglob("*.trec"))
    assert len(runs) >= 2, runs
    before = {p: digest(p) for p in runs}
    for folder in (f"results/models/{run}", f"results/train/{run}", f"results/runs/{run}"):
        shutil.rmtree(study / folder)
    # Asked for by name: Snakemake does not rebuild missing intermediates whose consumers are up to date.
    snakemake(study, *[str(p.relative_to(study)) for p in runs])
    assert {p: digest(p) for p in runs} == before


def test_config_typo_stops_the_workflow_naming_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "config" / "smoke.yaml").read_text().replace("batch_size: 16", "batch_sise: 16"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(bad), "--cores", "1", "-n", "results/table.tsv"],
        capture_output=True, text=True, env=env,
    )
    assert result.returncode != 0
    assert "unknown key 'batch_sise' in 'training'" in result.stdout + result.stderr


def test_real_config_dag_offline():
    """config.yaml with config/rerun.yaml plans the whole study without touching the network."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(ROOT),
         "--cores", "1", "-n", "--quiet", "rules", "all", "--configfile", "config.yaml", "config/rerun.yaml",
         # config.yaml leaves the commits of the training and NanoBEIR data to the user;
         # a stand-in pins them here.
         "--config", "data={hf_revision: 0123456789abcdef0123456789abcdef01234567}",
         "training={evaluator: {revision: 0123456789abcdef0123456789abcdef01234567}}"],
        capture_output=True, text=True, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    counts = planned_rule_counts(result.stdout)
    assert counts["train"] == 6  # 3 models x 2 optimizers x 1 seed, 3 epoch checkpoints each
    assert counts["rerank"] == 6  # one job per training run: its 3 checkpoints on both enabled test sets
    assert counts["evaluate"] == 36  # 18 checkpoints x 2 enabled test sets
    assert counts["prepare_pyserini_testset"] == 1 and counts["prepare_msmarco_v11_testset"] == 1


def test_a_local_gpu_runs_one_training_at_a_time(study, tmp_path):
    """Trainings that declare gpu=1 (use_cpu: false) are not started together on a local
    machine, although --cores 2 would allow two jobs: the Snakefile's default gpu=1 limit."""
    from conftest import copy_study

    copy = copy_study(study, tmp_path / "study")
    targets = [f"results/models/minilm/{optim}/seed12/trainer_state.json" for optim in ("adamw", "lion")]
    result = snakemake(copy, "--config", "training={use_cpu: false}", "--", *targets)
    log = result.stdout + result.stderr
    starts = ("rule train:", "localrule train:")
    events = [("start" if line.startswith(starts) else "end", line)
              for line in log.splitlines() if line.startswith(starts) or "(Rule: train)" in line]
    assert [kind for kind, _ in events] == ["start", "end", "start", "end"], log[-4000:]
    assert "gpu=1" in log  # the jobs asked for a GPU (resources line of each job)


def test_validate_config_counts_the_jobs_the_dag_plans(tmp_path):
    """`crossopt.cli validate-config` states job counts; they are the dry run's, rule by rule."""
    config = ROOT / "config" / "smoke.yaml"
    said = subprocess.run([sys.executable, "-m", "crossopt.cli", "validate-config", str(config)],
                          capture_output=True, text=True, cwd=ROOT)
    assert said.returncode == 0, said.stderr
    line = re.search(r"jobs to run: (\d+) trainings .*?, (\d+) reranking jobs .*? and (\d+) evaluation jobs",
                     said.stdout)
    assert line, said.stdout
    counts = planned_rule_counts(snakemake(tmp_path, "-n", "all", "--quiet", "rules").stdout)
    assert [int(n) for n in line.groups()] == [counts["train"], counts["rerank"],
                                                counts["evaluate"] + counts["evaluate_first_stage"]], counts
