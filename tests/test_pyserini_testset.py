"""The Pyserini test-set script: bundled DL19 topics and qrels (offline), or a local topics file."""

import importlib.util
from pathlib import Path

import pytest

from crossopt.trec import read_qrels, read_topics

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("testset_pyserini", ROOT / "scripts" / "testset_pyserini.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # `snakemake` is only used under __main__
    return module


def test_bundled_dl19_topics_and_qrels(tmp_path):
    _script().main("dl19-passage", "dl19-passage", tmp_path / "topics.tsv", tmp_path / "qrels.txt")
    topics = read_topics(tmp_path / "topics.tsv")
    qrels = read_qrels(tmp_path / "qrels.txt")
    assert len(topics) == 43
    assert sum(q.grade >= 1 for q in qrels) == 4102  # the num_rel of the reported trec_eval output


def test_local_topics_file_replaces_the_bundled_topics(tmp_path):
    script = _script()
    script.main("dl19-passage", "dl19-passage", tmp_path / "bundled.tsv", tmp_path / "qrels.txt")
    bundled = read_topics(tmp_path / "bundled.tsv")
    extended = tmp_path / "all.tsv"
    extended.write_text("".join(f"{q}\t{t}\n" for q, t in bundled.items()) + "999999\tan unjudged query\n")
    script.main("dl19-passage", "dl19-passage", tmp_path / "topics.tsv", tmp_path / "qrels.txt", str(extended))
    assert len(read_topics(tmp_path / "topics.tsv")) == 44
    short = tmp_path / "short.tsv"
    short.write_text("999999\tonly an unjudged query\n")
    with pytest.raises(ValueError, match="judged queries .* are missing"):
        script.main("dl19-passage", "dl19-passage", tmp_path / "t.tsv", tmp_path / "q.txt", str(short))
