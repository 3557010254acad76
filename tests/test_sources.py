"""Data-source functions that run offline: Pyserini's bundled topics/qrels, BM25 and
document texts on local Lucene indexes, and the BEIR SciFact reproduction.

The hub downloads and the prebuilt msmarco-v1-passage index cannot be reached here;
their only untested code is the one-line `load_dataset`/`from_prebuilt_index` call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from crossopt import sources
from crossopt.beir import prepare_beir
from crossopt.data import read_beir_folder, write_jsonl_collection
from crossopt.evaluate import evaluate_files, evaluate_run
from crossopt.trec import check_run_file, qrels_to_dict, read_qrels, read_run, read_topics

# Pyserini's published BEIR SciFact "flat" BM25 (title + text in one field, k1=0.9, b=0.4).
SCIFACT_NDCG10 = 0.6789
SCIFACT_R1000 = 0.9767


def _run_cli(args: list[str], log: Path) -> None:
    """Run a Pyserini CLI; a non-zero exit fails with its output (it also exits 0 on some failures)."""
    done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)
    log.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"


def _index(collection_dir: Path, index_dir: Path, *store: str) -> Path:
    _run_cli(
        ["pyserini.index.lucene", "--collection", "JsonCollection", "--input", str(collection_dir),
         "--index", str(index_dir), "--generator", "DefaultLuceneDocumentGenerator", "--threads", "1", *store],
        index_dir.parent / f"{index_dir.name}.log",
    )
    assert any(index_dir.glob("segments_*")), f"no Lucene index written to {index_dir}"
    return index_dir


# --- Pyserini's bundled topics and qrels (offline in 0.21)


def test_dl19_passage_topics_and_qrels_offline():
    topics, qrels = sources.pyserini_topics_qrels("dl19-passage")
    assert len(topics) == 43  # the judged queries
    assert ("264014", "how long is life cycle of flea") in topics
    assert {grade for _, _, grade in qrels} == {0, 1, 2, 3}
    assert {qid for qid, _, _ in qrels} == {qid for qid, _ in topics}
    assert sum(grade >= 1 for _, _, grade in qrels) == 4102  # num_rel at trec_eval's default level
    assert all(isinstance(qid, str) and isinstance(docid, str) for qid, docid, _ in qrels)


def test_msmarco_dev_subset_topics_and_qrels_offline():
    topics, qrels = sources.pyserini_topics_qrels("msmarco-passage-dev-subset")
    assert len(topics) == 6980
    assert len({qid for qid, _, _ in qrels}) == 6980


def test_unknown_pyserini_topics_name():
    with pytest.raises(ValueError, match="not-a-topic-set"):
        sources.pyserini_topics_qrels("not-a-topic-set")


# --- BM25 and document texts on tiny local indexes (same calls as on the prebuilt index)

TINY_DOCS = [
    {"id": "p1", "contents": "The flea life cycle has four stages: egg, larva, pupa and adult."},
    {"id": "p2", "contents": "Concrete flooring costs depend on the finish."},
    {"id": "p3", "contents": "Adult fleas live on the host; the flea cycle lasts weeks."},
]


@pytest.fixture(scope="module")
def tiny_indexes(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    write_jsonl_collection(TINY_DOCS, root / "collection" / "docs.jsonl")
    raw = _index(root / "collection", root / "index-raw", "--storeRaw")
    contents = _index(root / "collection", root / "index-contents", "--storeContents")
    bare = _index(root / "collection", root / "index-bare")
    return raw, contents, bare


def test_bm25_search_on_local_index(tiny_indexes):
    searcher = sources.open_local_index(tiny_indexes[0])
    run = sources.bm25_search(searcher, [("7", "flea cycle"), ("8", "concrete floor cost")], k1=0.9, b=0.4, hits=2)
    assert [(qid, rank) for qid, _, rank, _ in run] == [("7", 1), ("7", 2), ("8", 1)]
    assert {docid for qid, docid, _, _ in run if qid == "7"} == {"p1", "p3"}
    assert run[2][1] == "p2"
    scores = [score for qid, _, _, score in run if qid == "7"]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
    other = sources.bm25_search(searcher, [("7", "flea cycle")], k1=2.0, b=1.0, hits=2)
    assert [s for *_, s in other] != scores  # k1 and b really reach the searcher


@pytest.mark.parametrize("which", [0, 1])  # --storeRaw, --storeContents
def test_doc_texts_from_stored_raw_or_contents(tiny_indexes, which):
    searcher = sources.open_local_index(tiny_indexes[which])
    texts = sources.doc_texts(searcher, ["p3", "p1", "p3"])
    assert texts == {"p3": TINY_DOCS[2]["contents"], "p1": TINY_DOCS[0]["contents"]}
    with pytest.raises(KeyError, match="'p9' is not in the index"):
        sources.doc_texts(searcher, ["p9"])


def test_doc_texts_on_an_index_without_text(tiny_indexes):
    searcher = sources.open_local_index(tiny_indexes[2])
    with pytest.raises(ValueError, match="stores neither raw JSON"):
        sources.doc_texts(searcher, ["p1"])


def test_unknown_prebuilt_index_is_an_error_not_none():
    with pytest.raises(RuntimeError, match="could not open the Pyserini prebuilt index 'no-such-index'"):
        sources.open_prebuilt_index("no-such-index")


def test_missing_local_index_is_an_error_not_a_prebuilt_lookup(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Lucene index at"):
        sources.open_local_index(tmp_path / "msmarco-v1-passage")


# --- `retrieval.index` may name a Lucene index folder (a mirror, or one built from the collection)


def test_index_value_with_a_slash_is_a_folder_and_a_name_is_prebuilt():
    assert sources.is_index_path("indexes/msmarco-v1-passage") and sources.is_index_path("/data/msmarco")
    assert sources.is_index_path("./msmarco")
    assert not sources.is_index_path("msmarco-v1-passage") and not sources.is_index_path("local")


def test_an_index_folder_gives_the_same_search_and_texts_as_its_searcher(tiny_indexes):
    folder = str(tiny_indexes[0])
    assert sources.index_doc_texts(["p2"], index=folder) == {"p2": TINY_DOCS[1]["contents"]}
    direct = sources.bm25_search(sources.open_local_index(folder), [("7", "flea cycle")], k1=0.9, b=0.4, hits=3)
    assert sources.prebuilt_bm25_search([("7", "flea cycle")], k1=0.9, b=0.4, hits=3, index=folder) == direct
    assert sources.index_document_count(folder) == len(TINY_DOCS)


def test_check_index_counts_documents_and_fails_on_a_wrong_count(tiny_indexes, tmp_path, capsys):
    """`python -m crossopt.cli check-index` once as a command; its failures through the same
    main() in this process (each command starts a JVM, about 10 s on a busy 2-core machine)."""
    from crossopt import cli

    good = subprocess.run([sys.executable, "-m", "crossopt.cli", "check-index", str(tiny_indexes[0]),
                           "--documents", str(len(TINY_DOCS))], capture_output=True, text=True)
    assert good.returncode == 0 and f"{len(TINY_DOCS)} documents" in good.stdout, good.stderr
    assert cli.main(["check-index", str(tiny_indexes[0]), "--documents", "8841823"]) == 1
    assert f"expected 8841823 documents, found {len(TINY_DOCS)}" in capsys.readouterr().err
    assert cli.main(["check-index", str(tmp_path / "none")]) == 1
    assert "no Lucene index at" in capsys.readouterr().err


def test_real_config_searches_a_local_index_folder_instead_of_downloading(tiny_indexes, tmp_path):
    """Dry runs of the real study with dl19 pointed at an index folder: Pyserini gets the
    folder, the folder is an input (a missing one stops the plan, named), no download is planned."""
    root = Path(__file__).resolve().parent.parent

    def plan(index):
        overlay = tmp_path / "index.yaml"
        overlay.write_text(f"testsets:\n  dl19:\n    retrieval: {{index: {index}, k1: 0.9, b: 0.4, depth: 1000}}\n")
        command = [sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"), "--directory", str(root),
                   "-n", "-p", "--cores", "1", "--configfile", str(root / "config.yaml"), str(overlay),
                   "--config", "data={hf_revision: 0123456789abcdef0123456789abcdef01234567}",
                   "training={evaluator: {revision: 0123456789abcdef0123456789abcdef01234567}}",
                   "--", "results/runs/bm25/dl19.trec"]
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)

    planned = plan(tiny_indexes[0])
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert f"--index {tiny_indexes[0]} " in planned.stdout
    assert "msmarco-v1-passage" not in planned.stdout.split("rule bm25_search")[1]
    absent = plan(tmp_path / "no-index")
    assert absent.returncode != 0
    assert "no-index" in absent.stdout + absent.stderr and "Missing input" in absent.stdout + absent.stderr


# --- Real data: BEIR SciFact test split reproduces Pyserini's published BM25


def _as_dict(rows):
    run = defaultdict(dict)
    for qid, docid, _, score in rows:
        run[qid][docid] = score
    return dict(run)


@pytest.fixture(scope="module")
def scifact_run(tmp_path_factory):
    """The project's own BM25 stage on the real SciFact (a local copy or BEIR's download,
    tests/real_scifact.py): prepare_beir, Pyserini's CLIs, the run check."""
    from real_scifact import real_scifact

    scifact = real_scifact()
    work = tmp_path_factory.mktemp("scifact")
    counts = prepare_beir(scifact, "test", work / "collection" / "docs.jsonl", work / "topics.tsv", work / "qrels.txt")
    index = _index(work / "collection", work / "index", "--storePositions", "--storeDocvectors", "--storeRaw")
    run_path = work / "bm25.trec"
    _run_cli(
        ["pyserini.search.lucene", "--index", str(index), "--topics", str(work / "topics.tsv"),
         "--output", str(run_path), "--bm25", "--k1", "0.9", "--b", "0.4", "--hits", "1000"],
        work / "search.log",
    )
    check_run_file(run_path)
    return work, counts, index, run_path


def test_scifact_counts(scifact_run):
    work, counts, _, run_path = scifact_run
    assert counts == {"documents": 5183, "queries": 300, "qrels": 339}
    assert len({e.qid for e in read_run(run_path)}) == 300


def test_scifact_bm25_reproduces_pyserini(scifact_run):
    """Evaluated by the project's evaluation code, as the workflow's evaluate_bm25 rule does."""
    work, _, _, run_path = scifact_run
    report = evaluate_files(run_path, work / "qrels.txt", work / "eval.json", "scifact", "bm25",
                            relevance_level=1, recall_depths=(100, 1000))
    scores = report["aggregate"]
    print(f"SciFact BM25 flat: {json.dumps(scores)}")
    assert report["queries_missing_from_run"] == []
    assert scores["ndcg_cut_10"] == pytest.approx(SCIFACT_NDCG10, abs=1e-3)
    assert scores["recall_1000"] == pytest.approx(SCIFACT_R1000, abs=1e-3)


def test_scifact_python_search_matches_cli(scifact_run):
    """bm25_search (used for the prebuilt MS MARCO index) gives the CLI's run."""
    work, _, index, run_path = scifact_run
    topics = read_topics(work / "topics.tsv")
    qrels = qrels_to_dict(read_qrels(work / "qrels.txt"))
    searcher = sources.open_local_index(index)
    api_run = sources.bm25_search(searcher, list(topics.items()), k1=0.9, b=0.4, hits=1000, threads=2)
    cli_run = [(e.qid, e.docid, e.rank, e.score) for e in read_run(run_path)]
    top10 = lambda rows: {(q, d) for q, d, r, _ in rows if r <= 10}  # noqa: E731
    assert top10(api_run) == top10(cli_run)
    assert (evaluate_run(_as_dict(api_run), qrels)["aggregate"]["ndcg_cut_10"]
            == pytest.approx(evaluate_run(_as_dict(cli_run), qrels)["aggregate"]["ndcg_cut_10"]))
    some = [d for _, d, _, _ in api_run[:3]]
    texts = sources.doc_texts(searcher, some)
    contents = {}
    for line in (work / "collection" / "docs.jsonl").read_text().splitlines():
        record = json.loads(line)
        contents[record["id"]] = record["contents"]
    assert texts == {d: contents[d] for d in some}


# --- The hub downloads, with `datasets.load_dataset` pointed at local Parquet files


def test_download_msmarco_training_wiring(tmp_path, monkeypatch):
    """Streams only the first triplets and keeps only the texts they use (no network)."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = {
        "corpus": {"passage_id": [str(i) for i in range(6)], "passage": [f"p{i}" for i in range(6)]},
        "queries": {"query_id": ["10", "11", "12"], "query": ["q10", "q11", "q12"]},
        "triplets": {"query_id": ["10", "11", "12"], "positive_id": ["0", "1", "2"], "negative_id": ["3", "4", "5"]},
    }
    files = {}
    for name, columns in tables.items():
        files[name] = str(tmp_path / f"{name}.parquet")
        pq.write_table(pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()}), files[name])
    real_load = datasets.load_dataset
    calls = []

    def local_load(path, name, split, revision, streaming=False):
        calls.append((path, name, split, revision, streaming))
        return real_load("parquet", data_files={"train": files[name]}, split=split, streaming=streaming,
                         cache_dir=str(tmp_path / "hf-cache"))

    monkeypatch.setattr(datasets, "load_dataset", local_load)
    corpus, queries, triplets = sources.download_msmarco_training(2, revision="0" * 40)
    assert calls[0] == ("sentence-transformers/msmarco", "triplets", "train", "0" * 40, True)
    assert {c[1] for c in calls} == {"triplets", "corpus", "queries"}
    assert list(triplets["query_id"]) == ["10", "11"]
    assert sorted(corpus["passage_id"]) == ["0", "1", "3", "4"]
    assert sorted(queries["query_id"]) == ["10", "11"]
    with pytest.raises(ValueError, match="asked for 5, the split has 3"):
        sources.download_msmarco_training(5, revision="0" * 40)


def test_download_v11_wiring(monkeypatch):
    import datasets

    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append((a, k)) or "dataset")
    assert sources.download_ms_marco_v11_validation(revision="a" * 40) == "dataset"
    assert calls == [(("microsoft/ms_marco", "v1.1"), {"split": "validation", "revision": "a" * 40})]
