"""Test sets in the workflow: adding one, renaming one, a corrupted one, and the README's
BEIR block on real data.

The first three plan or run Snakemake on the session's finished smoke study (tests/conftest.py),
the corrupted one on a copy of it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from conftest import copy_study, run_snakemake

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
EXISTING = ("smoke-dl", "smoke-dev")


def smoke_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())


def write_config(config: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def planned_jobs(study: Path, config: Path) -> list[dict]:
    """The jobs `snakemake -n all` plans: rule, wildcards and output of each."""
    result = run_snakemake(study, "-n", "all", configfile=config)
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \S+:\n)", result.stdout):
        head = re.match(r"(?:local)?rule (\S+):\n", block)
        if not head:
            continue
        output = re.search(r"^\s+output: (.*)$", block, re.M)
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        jobs.append({"rule": head.group(1), "output": output.group(1) if output else "",
                     "wildcards": dict(w.split("=", 1) for w in wildcards.group(1).split(", ")) if wildcards else {}})
    return jobs


def test_nothing_to_do_on_the_finished_study(smoke_study):
    assert planned_jobs(smoke_study, ROOT / "config" / "smoke.yaml") == []


def test_enabling_a_new_testset_trains_nothing_and_prepares_only_the_new_one(smoke_study, tmp_path):
    """A new test set is prepared, retrieved and evaluated on its own. Its reranking is a new
    output of every training run's reranking job, which scores all test sets with all its
    checkpoints in one go (one start-up per run): so each run is reranked once more, rewriting the
    existing test sets' runs (with the same scores) and re-evaluating them, but nothing is
    trained and nothing of the existing test sets' preparation or BM25 runs again."""
    # A third BEIR-format folder: a copy of one the smoke generator wrote.
    folder = shutil.copytree(smoke_study / "results" / "smoke" / "testsets" / "smoke-dl", tmp_path / "new-beir")
    config = smoke_config()
    config["testsets"]["smoke-new"] = {
        "name": "New BEIR test set", "source": "beir", "path": str(folder), "split": "test",
        "retrieval": {"index": "local", "k1": 0.9, "b": 0.4, "depth": 50}, "missing_queries": "zero",
        "recall_depths": [10, 50],  # the default, [100, 1000], is deeper than the run
    }
    jobs = planned_jobs(smoke_study, write_config(config, tmp_path / "config.yaml"))
    by_rule: dict[str, int] = {}
    for job in jobs:
        by_rule[job["rule"]] = by_rule.get(job["rule"], 0) + 1
        if job["rule"] not in ("rerank", "evaluate"):
            assert job["wildcards"].get("testset", "smoke-new") == "smoke-new", job
            assert not any(f"{t}.trec" in job["output"] or f"/{t}/" in job["output"] for t in EXISTING), job
    # 12 trainings, each reranked once (3 checkpoints x 3 test sets in its job); 36
    # checkpoints evaluated on every test set
    assert by_rule["rerank"] == 12 and by_rule["evaluate"] == 36 * 3, by_rule
    reranks = [job for job in jobs if job["rule"] == "rerank"]
    assert all(job["output"].count("smoke-new.trec") == 3 for job in reranks)
    assert by_rule["prepare_local_testset"] == by_rule["bm25_search"] == by_rule["evaluate_first_stage"] == 1
    assert "train" not in by_rule and "smoke_collection" not in by_rule and "bm25_index" in by_rule


def test_renaming_plans_only_the_table_and_the_paper(smoke_study, tmp_path):
    config = smoke_config()
    config["testsets"]["smoke-dl"]["name"] = "Renamed DL"
    config["models"]["minilm"]["name"] = "Renamed MiniLM"
    rules = {job["rule"] for job in planned_jobs(smoke_study, write_config(config, tmp_path / "config.yaml"))}
    assert "results_table" in rules
    assert all(rule in ("results_table", "all") or rule.startswith("paper") for rule in rules), rules


def test_a_corrupted_qrels_line_stops_the_run_and_keeps_the_table(smoke_study, tmp_path):
    study = copy_study(smoke_study, tmp_path / "study")
    qrels = study / "results" / "testsets" / "smoke-dl" / "qrels.txt"
    lines = qrels.read_text().splitlines()
    lines[2] = lines[2].rsplit(" ", 1)[0] + " two"
    qrels.write_text("\n".join(lines) + "\n")
    table = (study / "results" / "table.tsv").read_bytes()
    result = run_snakemake(study, "all", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"results/testsets/smoke-dl/qrels.txt, line 3: grade 'two' is not an integer" in output, output[-3000:]
    assert (study / "results" / "table.tsv").read_bytes() == table
    # The evaluations that ran and failed left nothing behind; those Snakemake did not reach
    # keep their old files, but none of them counts as done: every evaluation on the changed
    # qrels is planned again.
    before = len(list((smoke_study / "results" / "eval").rglob("smoke-dl.json")))
    left = len(list((study / "results" / "eval").rglob("smoke-dl.json")))
    assert left < before
    planned = [job for job in planned_jobs(study, ROOT / "config" / "smoke.yaml")
               if job["rule"].startswith("evaluate") and job["output"].endswith("/smoke-dl.json")]
    assert len(planned) == before, (len(planned), before)


SCIFACT = ROOT.parent / "shared" / "data" / "beir-scifact"


def readme_beir_block() -> tuple[str, dict]:
    """The example test-set block of README.md's "Adding a BEIR test set"."""
    section = (ROOT / "README.md").read_text().split("### Adding a BEIR test set", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    ((key, spec),) = yaml.safe_load(textwrap.dedent(block)).items()
    return key, spec


def test_readme_beir_block_reproduces_pyserinis_scifact_numbers(tmp_path):
    from real_scifact import real_scifact

    scifact = real_scifact()  # the local copy the README names, or BEIR's download
    if shutil.which("java") is None:
        pytest.skip("Java is not installed: Pyserini's BM25 stage cannot run")
    key, spec = readme_beir_block()
    assert key == "scifact" and spec["source"] == "beir"
    # The README's path is relative to the repository, where its commands run.
    assert (ROOT / spec["path"]).resolve() == SCIFACT.resolve()
    spec["path"] = str(scifact.resolve())
    config = smoke_config()
    config["testsets"][key] = spec
    path = write_config(config, tmp_path / "config.yaml")
    check = subprocess.run([sys.executable, "-m", "crossopt.cli", "validate-config", str(path)],
                           capture_output=True, text=True, cwd=ROOT)
    assert check.returncode == 0, check.stderr
    assert check.stdout.splitlines()[-1] == f"{path} is valid."
    assert "scifact: BEIR SciFact [beir" in check.stdout
    run_snakemake(tmp_path, f"results/eval/bm25/{key}.json", configfile=path)
    report = json.loads((tmp_path / "results" / "eval" / "bm25" / f"{key}.json").read_text())
    print(f"\nSciFact BM25 flat through the workflow: nDCG@10 {report['aggregate']['ndcg_cut_10']:.4f}, "
          f"R@1000 {report['aggregate']['recall_1000']:.4f}; {report['trec_eval']['ndcg_cut_10']}")
    assert report["n_queries"] == 300 and report["missing_queries"] == "zero"
    assert round(report["aggregate"]["ndcg_cut_10"], 4) == 0.6789
    assert round(report["aggregate"]["recall_1000"], 4) == 0.9767


# --- the downloaded test-set sources, through their rules, on local data of the same schema

def write_hub_ms_marco(folder: Path, records: list[dict]) -> Path:
    """`microsoft/ms_marco` as its hub repository lays it out (a README whose configs map v1.1's
    validation split to Parquet files), with `records` in the hub's v1.1 schema: `datasets`
    loads a local folder of this layout as it loads the hub's."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from test_msmarco_data import V11_SCHEMA

    (folder / "v1.1").mkdir(parents=True)
    (folder / "README.md").write_text("---\nconfigs:\n- config_name: v1.1\n  data_files:\n"
                                      "  - split: validation\n    path: v1.1/validation-*\n---\n")
    pq.write_table(pa.Table.from_pylist(records, schema=V11_SCHEMA), folder / "v1.1" / "validation-00000-of-00001.parquet")
    return folder


def test_the_hub_and_pyserini_test_sets_are_prepared_by_their_rules(tmp_path, monkeypatch):
    """rules prepare_msmarco_v11_testset and prepare_pyserini_testset as the real study runs them
    (config.yaml's test-set blocks), offline: MS MARCO v1.1 from a local folder of the hub's
    layout and schema (the download function is the real one; only hf_dataset names the folder),
    its given order evaluated by the first-stage rule; DL 2019 from Pyserini's bundled files."""
    if shutil.which("java") is None:
        pytest.skip("Java is not installed: Pyserini reads its bundled topics through the JVM")
    from test_msmarco_data import _v11_record

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = write_hub_ms_marco(tmp_path / "ms_marco", [
        _v11_record(19699, "what is rba", [0, 1, 0]),        # first selected passage at rank 2
        _v11_record(19700, "was ronald reagan a democrat", [0, 0]),  # none selected: scores 0
        _v11_record(19701, "how long to hold bow", [1, 1, 0, 0])])   # at rank 1
    real = yaml.safe_load((ROOT / "config.yaml").read_text())["testsets"]
    config = smoke_config()
    config["testsets"]["dl19"] = real["dl19"]
    config["testsets"]["msmarco-dev-v11"] = dict(real["msmarco-dev-v11"], hf_dataset=str(hub))
    configfile = write_config(config, tmp_path / "config.yaml")
    work = tmp_path / "work"
    run_snakemake(work, "results/testsets/dl19/qrels.txt", "results/eval/given/msmarco-dev-v11.json",
                  configfile=configfile)

    dl19 = work / "results" / "testsets" / "dl19"
    assert len((dl19 / "topics.tsv").read_text().splitlines()) == 43
    qrels = [line.split() for line in (dl19 / "qrels.txt").read_text().splitlines()]
    assert sum(int(grade) >= 1 for *_, grade in qrels) == 4102  # num_rel of the researcher's trec_eval output
    v11 = work / "results" / "testsets" / "msmarco-dev-v11"
    assert (v11 / "topics.tsv").read_text().splitlines()[0] == "19699\twhat is rba"
    assert (v11 / "no_relevant.txt").read_text() == "19700\n"
    given = json.loads((work / "results" / "eval" / "given" / "msmarco-dev-v11.json").read_text())
    assert given["n_queries"] == 3
    assert given["aggregate"]["recip_rank_10"] == pytest.approx((1 / 2 + 0 + 1) / 3)
    # The rule's log says what it read. (A local folder has no revisions: the pinned hf_revision is
    # passed to the loader, which checks it only on the hub.)
    assert "3 queries, 1 without a selected passage" in (work / "logs" / "testsets" / "msmarco-dev-v11"
                                                          / "prepare.log").read_text()
