"""What the study cost: GPU time per model x optimizer, training and reranking, priced.

Every training and reranking job writes a cost record (`crossopt.backends`):
GPU type, GPU count, wall seconds, GPU seconds. `summarise_costs` adds them up
per (model, optimizer, stage, backend, GPU) and prices the GPU hours with the
config's `costs` section, where every price carries the date it was read and its
source. The last rows are the totals the paper cites.

GPU seconds are what the function bodies measured on the GPU, every attempt
included; Modal also bills each container's start-up (image load, imports) and
CPU and memory, so the priced total is a lower bound of the invoice.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path

from .atomic import atomic_write_text

RECORD_KEYS = ("stage", "model", "optim", "backend", "gpu", "wall_seconds", "gpu_seconds")
STAGES = ("training", "reranking")
COLUMNS = ["model", "optimizer", "stage", "backend", "gpu", "jobs", "attempts", "wall_hours", "gpu_hours",
           "price_per_gpu_hour", "cost", "currency", "price_date", "price_source"]
ALL = "all"


def read_cost_record(path: str | Path) -> dict:
    """One cost record; a missing key or a non-numeric time is an error naming the file."""
    try:
        record = json.loads(Path(path).read_text())
    except ValueError as error:
        raise ValueError(f"{path}: not a JSON cost record ({error})") from None
    missing = [key for key in RECORD_KEYS if key not in record]
    if missing:
        raise ValueError(f"{path}: cost record lacks {', '.join(missing)}")
    if record["stage"] not in STAGES:
        raise ValueError(f"{path}: stage {record['stage']!r} is not one of {', '.join(STAGES)}")
    for key in ("wall_seconds", "gpu_seconds"):
        if not isinstance(record[key], (int, float)) or record[key] < 0:
            raise ValueError(f"{path}: {key} must be a non-negative number, got {record[key]!r}")
    return record


def gpu_price(gpu: str, costs: dict) -> dict | None:
    """{"per_hour", "date", "source"} of a GPU type, or None where the config has no price."""
    return (costs or {}).get("gpu_prices", {}).get(gpu)


def _priced(gpu: str, gpu_seconds: float, costs: dict) -> tuple[float | None, dict | None]:
    """(cost, price) of some GPU seconds; no GPU time costs 0, a GPU without a price None."""
    if gpu_seconds == 0:
        return 0.0, None
    price = gpu_price(gpu, costs)
    if price is None:
        return None, None
    return gpu_seconds / 3600 * float(price["per_hour"]), price


def summarise_costs(records: list[dict], costs: dict) -> list[dict]:
    """Rows per (model, optimizer, stage, backend, GPU), then per-stage totals and the grand total.

    A total's cost is None (unknown) when any of its rows used a GPU the config has no price for.
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        key = (record["model"], record["optim"], record["stage"], record["backend"], record["gpu"])
        groups[key].append(record)
    currency = (costs or {}).get("currency", "USD")

    rows = []
    for (model, optim, stage, backend, gpu), members in sorted(groups.items(),
                                                               key=lambda item: (item[0][2] != "training", item[0])):
        gpu_seconds = sum(r["gpu_seconds"] for r in members)
        cost, price = _priced(gpu, gpu_seconds, costs)
        rows.append({
            "model": model, "optimizer": optim, "stage": stage, "backend": backend, "gpu": gpu,
            "jobs": len(members),
            "attempts": sum(int(r.get("attempts", 1)) for r in members),
            "wall_seconds": sum(r["wall_seconds"] for r in members),
            "gpu_seconds": gpu_seconds,
            "price_per_gpu_hour": None if price is None else float(price["per_hour"]),
            "cost": cost,
            "currency": currency,
            "price_date": "" if price is None else str(price["date"]),
            "price_source": "" if price is None else str(price["source"]),
        })

    def total(stage: str, members: list[dict]) -> dict:
        costs_known = [r["cost"] for r in members]
        return {
            "model": ALL, "optimizer": ALL, "stage": stage, "backend": ALL,
            "gpu": ",".join(sorted({r["gpu"] for r in members})) or "-",
            "jobs": sum(r["jobs"] for r in members),
            "attempts": sum(r["attempts"] for r in members),
            "wall_seconds": sum(r["wall_seconds"] for r in members),
            "gpu_seconds": sum(r["gpu_seconds"] for r in members),
            "price_per_gpu_hour": None,
            "cost": None if None in costs_known else sum(costs_known),
            "currency": currency, "price_date": "", "price_source": "",
        }

    totals = [total(stage, [r for r in rows if r["stage"] == stage]) for stage in STAGES]
    totals.append(total(ALL, rows))
    return rows + totals


def _format(row: dict) -> dict:
    def number(value, digits):
        return "NA" if value is None else f"{value:.{digits}f}"

    return {
        **{key: row[key] for key in ("model", "optimizer", "stage", "backend", "gpu", "jobs", "attempts",
                                     "currency", "price_date", "price_source")},
        "wall_hours": number(row["wall_seconds"] / 3600, 4),
        "gpu_hours": number(row["gpu_seconds"] / 3600, 4),
        "price_per_gpu_hour": "" if row["price_per_gpu_hour"] is None else f"{row['price_per_gpu_hour']:g}",
        "cost": number(row["cost"], 2),
    }


def write_cost_tsv(rows: list[dict], path: str | Path) -> None:
    """Hours with 4 decimals and costs with 2 (NA where a price is missing), atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, delimiter="\t", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(_format(row))
    atomic_write_text(path, text.getvalue())


def cost_table(record_paths: list[str | Path], costs: dict, output: str | Path) -> list[dict]:
    """Read every record, summarise and write `output`; returns the rows."""
    rows = summarise_costs([read_cost_record(p) for p in record_paths], costs)
    write_cost_tsv(rows, output)
    return rows
