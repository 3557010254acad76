"""results/cost.tsv from recorded cost JSONs, with numbers checkable by hand."""

import csv
import importlib.util
import json
from pathlib import Path

import pytest

from crossopt.cost import cost_table, read_cost_record, summarise_costs

ROOT = Path(__file__).resolve().parent.parent
COSTS = {
    "currency": "USD",
    "gpu_prices": {
        "H100": {"per_hour": 3.9492, "date": "2026-05-07", "source": "https://modal.com/pricing"},
    },
}


def record(stage, model, optim, gpu_seconds, wall_seconds, gpu="H100", backend="modal", **extra):
    return {"stage": stage, "model": model, "optim": optim, "seed": 12, "backend": backend, "gpu": gpu,
            "gpu_count": 1, "wall_seconds": wall_seconds, "gpu_seconds": gpu_seconds, "attempts": 1, **extra}


def write_records(folder: Path, records: list[dict]) -> list[Path]:
    paths = []
    for i, data in enumerate(records):
        path = folder / f"{i}.cost.json"
        path.write_text(json.dumps(data))
        paths.append(path)
    return paths


def read_tsv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_cost_table_by_model_optimizer_and_stage(tmp_path):
    paths = write_records(tmp_path, [
        # MiniLM + AdamW trained 1 GPU hour on an H100 (two attempts: a preemption and the retry).
        record("training", "minilm", "adamw", 3600, 3900, attempts=2),
        # MiniLM + Lion: 1.5 GPU hours.
        record("training", "minilm", "lion", 5400, 5700),
        # Two reranking jobs of MiniLM + AdamW: 90 s + 270 s = 360 s = 0.1 GPU hours.
        record("reranking", "minilm", "adamw", 90, 150, epoch=1, testset="dl19"),
        record("reranking", "minilm", "adamw", 270, 330, epoch=1, testset="dev"),
        # A local CPU job: no GPU time, no cost.
        record("reranking", "minilm", "lion", 0, 720, gpu="cpu", backend="local"),
    ])
    cost_table(paths, COSTS, tmp_path / "cost.tsv")
    rows = read_tsv(tmp_path / "cost.tsv")
    by_key = {(r["model"], r["optimizer"], r["stage"]): r for r in rows}

    adamw = by_key["minilm", "adamw", "training"]
    assert (adamw["jobs"], adamw["attempts"], adamw["gpu_hours"], adamw["wall_hours"]) == ("1", "2", "1.0000", "1.0833")
    assert (adamw["price_per_gpu_hour"], adamw["cost"], adamw["currency"]) == ("3.9492", "3.95", "USD")
    assert (adamw["price_date"], adamw["price_source"]) == ("2026-05-07", "https://modal.com/pricing")
    # 1.5 h x 3.9492 = 5.9238
    assert (by_key["minilm", "lion", "training"]["gpu_hours"], by_key["minilm", "lion", "training"]["cost"]) == (
        "1.5000", "5.92")
    # 0.1 h x 3.9492 = 0.39492
    rerank = by_key["minilm", "adamw", "reranking"]
    assert (rerank["jobs"], rerank["gpu_hours"], rerank["cost"]) == ("2", "0.1000", "0.39")
    cpu = by_key["minilm", "lion", "reranking"]
    assert (cpu["gpu"], cpu["gpu_hours"], cpu["cost"], cpu["price_per_gpu_hour"]) == ("cpu", "0.0000", "0.00", "")

    # Totals: training 2.5 h -> 9.873; reranking 0.1 h -> 0.39492; all 2.6 h -> 10.26792.
    totals = {r["stage"]: r for r in rows if r["model"] == "all"}
    assert [r["stage"] for r in rows[-3:]] == ["training", "reranking", "all"]
    assert (totals["training"]["gpu_hours"], totals["training"]["cost"]) == ("2.5000", "9.87")
    assert (totals["reranking"]["gpu_hours"], totals["reranking"]["cost"], totals["reranking"]["jobs"]) == (
        "0.1000", "0.39", "3")
    assert (totals["all"]["gpu_hours"], totals["all"]["cost"], totals["all"]["jobs"]) == ("2.6000", "10.27", "5")
    assert totals["all"]["gpu"] == "H100,cpu"
    # Training rows come first, then reranking, each sorted by model and optimizer.
    assert [(r["stage"], r["optimizer"]) for r in rows[:4]] == [
        ("training", "adamw"), ("training", "lion"), ("reranking", "adamw"), ("reranking", "lion")]


def test_a_gpu_without_a_price_makes_its_cost_and_the_totals_unknown():
    rows = summarise_costs([record("training", "gte", "adamw", 1800, 1800, gpu="A10G"),
                            record("training", "gte", "lion", 3600, 3600)], COSTS)
    assert rows[0]["cost"] is None and rows[1]["cost"] == pytest.approx(3.9492)
    assert [r["cost"] for r in rows[2:]] == [None, 0.0, None]  # training, reranking (none), all


def test_malformed_records_name_the_file(tmp_path):
    bad = tmp_path / "bad.cost.json"
    bad.write_text(json.dumps({"stage": "training", "model": "m", "optim": "o", "backend": "modal", "gpu": "H100"}))
    with pytest.raises(ValueError, match=r"bad.cost.json: cost record lacks wall_seconds, gpu_seconds"):
        read_cost_record(bad)
    bad.write_text(json.dumps(record("training", "m", "o", -1, 5)))
    with pytest.raises(ValueError, match=r"bad.cost.json: gpu_seconds must be a non-negative number"):
        read_cost_record(bad)
    bad.write_text("{")
    with pytest.raises(ValueError, match="bad.cost.json: not a JSON cost record"):
        read_cost_record(bad)


def test_cost_script_is_thin(tmp_path):
    spec = importlib.util.spec_from_file_location("cost_script", ROOT / "scripts" / "cost.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    paths = write_records(tmp_path, [record("training", "minilm", "adamw", 7200, 7300)])
    script.main([str(p) for p in paths], str(tmp_path / "cost.tsv"), COSTS)
    assert read_tsv(tmp_path / "cost.tsv")[-1]["cost"] == "7.90"  # 2 h x 3.9492 = 7.8984
