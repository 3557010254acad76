import json

import pandas as pd
import pytest

from crossopt.candidates import write_candidates

from crossopt.report import TABLE_HEADER, format_value, table_rows, write_table


def _config():
    columns = {c: {"testset": "dl", "measure": m} for c, m in zip(
        TABLE_HEADER[3:], ["ndcg_cut_10", "map", "recip_rank_10", "recall_10", "Rprec", "P_10"])}
    columns["MRR@10"] = {"testset": "dev", "measure": "recip_rank_10"}
    return {
        "table": {"columns": columns},
        "study": {"epochs": 2, "seeds": [1, 2]},
        "models": {"m": {"name": "Model M"}},
        "optimizers": {"o": {"name": "Opt"}},
    }


def test_table_rows_average_seeds_and_pick_columns(tmp_path):
    def write(path, value):
        measures = ["ndcg_cut_10", "map", "recip_rank_10", "recall_10", "Rprec", "P_10"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"aggregate": {m: value for m in measures}}))

    for seed in (1, 2):
        for epoch in (1, 2):
            for testset in ("dl", "dev"):
                bonus = 0.5 if testset == "dev" else 0.0
                write(tmp_path / f"{seed}/{epoch}/{testset}.json", 0.1 * seed + 0.01 * epoch + bonus)
    for testset in ("dl", "dev"):
        write(tmp_path / f"bm25/{testset}.json", 0.05)
    rows = table_rows(
        _config(),
        lambda m, o, s, e, t: str(tmp_path / f"{s}/{e}/{t}.json"),
        {"dl": str(tmp_path / "bm25/dl.json")},  # dev has no BM25 candidates
    )
    assert rows[0][:3] == ["BM25", "-", "-"]
    assert rows[0][3] == "0.0500" and rows[0][5] == ""  # MRR@10 is on dev: no BM25 value
    assert rows[1][:3] == ["Model M", "Opt", "1"]
    assert rows[1][3] == "0.1600"  # mean of 0.11 and 0.21
    assert rows[1][5] == "0.6600"  # MRR@10 from the dev test set
    write_table(tmp_path / "table.tsv", rows)
    lines = (tmp_path / "table.tsv").read_text().splitlines()
    assert lines[0].split("\t") == TABLE_HEADER and len(lines) == 4


def test_format_value():
    assert format_value(0.71274) == "0.7127" and format_value(None) == ""


def test_write_candidates_joins_texts(tmp_path):
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 d2 1 2.0 bm25\nq1 Q0 d1 2 1.0 bm25\n")
    collection = tmp_path / "docs.jsonl"
    collection.write_text('{"id": "d1", "contents": "one"}\n{"id": "d2", "contents": "two"}\n{"id": "d3", "contents": "x"}\n')
    assert write_candidates(run, {"q1": "query"}, collection, tmp_path / "c.parquet") == 2
    table = pd.read_parquet(tmp_path / "c.parquet")
    assert table["docid"].tolist() == ["d2", "d1"] and table["passage"].tolist() == ["two", "one"]
    assert table["query"].unique().tolist() == ["query"]
    collection.write_text('{"id": "d1", "contents": "one"}\n')
    with pytest.raises(Exception, match="has no passage text"):
        write_candidates(run, {"q1": "query"}, collection, tmp_path / "c.parquet")
    collection.write_text('{"id": "d1"}\n')
    with pytest.raises(Exception, match="docs.jsonl:1: expected a record with 'id'"):
        write_candidates(run, {"q1": "query"}, collection, tmp_path / "c.parquet")
