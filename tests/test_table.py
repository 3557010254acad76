import json

import pandas as pd
import pytest

from crossopt.candidates import write_candidates

from crossopt.table import format_value, table_header, table_rows, write_table
from crossopt.study import Column, Grid

NAMES = ["NDCG@10", "MAP", "MRR@10", "Recall@10", "R-Prec", "P@10"]
COLUMNS = tuple(Column(name, "dev" if name == "MRR@10" else "dl", measure) for name, measure in zip(
    NAMES, ["ndcg_cut_10", "map", "recip_rank_10", "recall_10", "Rprec", "P_10"]))
GRID = Grid(models={"m": "Model M"}, optimizers={"o": "Opt"}, seeds=(1, 2), epochs=(1, 2))


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
        GRID, COLUMNS,
        lambda m, o, s, e, t: str(tmp_path / f"{s}/{e}/{t}.json"),
        {"dl": str(tmp_path / "bm25/dl.json")},  # dev has no BM25 candidates
    )
    assert rows[0][:3] == ["BM25", "-", "-"]
    assert rows[0][3] == "0.0500" and rows[0][5] == ""  # MRR@10 is on dev: no BM25 value
    assert rows[1][:3] == ["Model M", "Opt", "1"]
    assert rows[1][3] == "0.1600"  # mean of 0.11 and 0.21
    assert rows[1][5] == "0.6600"  # MRR@10 from the dev test set
    write_table(tmp_path / "table.tsv", COLUMNS, rows)
    lines = (tmp_path / "table.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["Base Model", "Optimizer", "Epoch", *NAMES] and len(lines) == 4


def test_columns_come_from_the_config_in_its_order(tmp_path):
    """table.columns decides the table's measure columns: their headings, order and sources."""
    for testset, value in (("dl", 0.25), ("dev", 0.75)):
        path = tmp_path / f"{testset}.json"
        path.write_text(json.dumps({"aggregate": {"recip_rank_10": value, "P_10": value / 2}}))
    columns = (Column("MRR (dev)", "dev", "recip_rank_10"), Column("P@10", "dl", "P_10"),
               Column("MRR (DL)", "dl", "recip_rank_10"))
    grid = Grid(models={"m": "M"}, optimizers={"o": "O"}, seeds=(1,), epochs=(1,))
    rows = table_rows(grid, columns, lambda m, o, s, e, t: str(tmp_path / f"{t}.json"), {})
    assert rows == [["M", "O", "1", "0.7500", "0.1250", "0.2500"]]
    assert table_header(columns) == ["Base Model", "Optimizer", "Epoch", "MRR (dev)", "P@10", "MRR (DL)"]


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
