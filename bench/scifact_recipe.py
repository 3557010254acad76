"""Recipe search for the SciFact replication, on the held-out train queries only.

Each try trains the profile's model (config/scifact.yaml) with the workflow's own
training entry point (crossopt.train.train_cross_encoder) under a few changed
settings, reranks the held-out train queries' BM25 candidates with every epoch's
checkpoint (crossopt.rerank, the test depth) and evaluates them as the test set
is evaluated (crossopt.evaluate). One TSV row per (try, epoch) is appended to
data/scifact/recipe_search.tsv: the settings, held-out nDCG@10, training time,
pairs/s, the final training loss, the mean loss over the epoch, whether the run
trained by then (TRAINED_BELOW, stated before the search ran) and the machine load.
The test queries are never touched here.

"Trained" (decided before the second search, 2026-12-06): the mean of the logged
training losses over an epoch is at most 0.9 ln 2 = 0.624. A scorer that gives every
pair the same score has a loss of ln 2 = 0.693 on balanced pairs; the runs that never
learned stayed within 2 % of it.

Needs the profile's data and model first:

    snakemake --configfile config/scifact.yaml --cores 2 results/data/train.parquet results/base_models/minilm

    python bench/scifact_recipe.py --name adamw-5e-5-head1e-3 --optim adamw --lr 5e-5 --head-lr 1e-3 --epochs 2
    python bench/scifact_recipe.py --name bm25            # the held-out BM25 reference row
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crossopt.config import load_config, run_settings  # noqa: E402
from crossopt.evaluate import evaluate_run  # noqa: E402
from crossopt.trec import qrels_to_dict, read_qrels, read_run, run_to_dict  # noqa: E402

COLUMNS = ["date", "name", "optim", "lr", "head_lr", "scheduler", "max_length", "negatives", "train_pairs",
           "batch_size", "epoch", "steps", "train_seconds", "pairs_per_second", "final_loss",
           "heldout_ndcg10", "heldout_mrr10", "rerank_seconds", "load_1min", "seed",
           "weight_decay", "bf16", "epoch_mean_loss", "trained"]

# The definition of a trained run (module docstring): mean training loss over the epoch.
TRAINED_BELOW = 0.9 * math.log(2)


def _schedule_names() -> list[str]:
    from crossopt.config import load_schema

    return list(load_schema()["$defs"]["schedule"]["enum"])


SCHEDULES = _schedule_names()


def heldout_bm25(data_dir: Path) -> dict:
    """BM25's own held-out measures (the ranking the reranker starts from)."""
    import pandas as pd

    candidates = pd.read_parquet(data_dir / "heldout" / "candidates.parquet")
    run = {}
    for qid, docid, score in zip(candidates["qid"], candidates["docid"], candidates["score"]):
        run.setdefault(str(qid), {})[str(docid)] = float(score)
    qrels = qrels_to_dict(read_qrels(data_dir / "heldout" / "qrels.txt"))
    return evaluate_run(run, qrels, missing_queries="zero")["aggregate"]


def append_row(path: Path, row: dict) -> None:
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not new:
        lines = path.read_text(encoding="utf-8").splitlines()
        header = lines[0].split("\t")
        if header != COLUMNS:  # rows of an earlier search: keep them, the columns they lack left empty
            old = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
            path.write_text("\t".join(COLUMNS) + "\n" + "".join(
                "\t".join(r.get(c, "") for c in COLUMNS) + "\n" for r in old), encoding="utf-8")
    with open(path, "a", encoding="utf-8") as handle:
        if new:
            handle.write("\t".join(COLUMNS) + "\n")
        handle.write("\t".join(str(row.get(c, "")) for c in COLUMNS) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="name of the try (row label)")
    parser.add_argument("--config", default=str(ROOT / "config" / "scifact.yaml"))
    parser.add_argument("--optim", default="adamw", help="optimizer key of the config")
    parser.add_argument("--lr", type=float, help="body learning rate")
    parser.add_argument("--head-lr", type=float, help="head learning rate (0 = same as body)")
    parser.add_argument("--scheduler", choices=SCHEDULES, help="a schedule name of config/schema.yaml")
    parser.add_argument("--weight-decay", type=float, help="the optimizer's weight decay (default: the config's)")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast in training and reranking (CPU)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-length", type=int)
    parser.add_argument("--negatives", type=int, help="rebuild the training pairs with this many negatives")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--out", default=str(ROOT / "data" / "scifact" / "recipe_search.tsv"))
    parser.add_argument("--work", default=str(ROOT / "results" / "recipe"))
    args = parser.parse_args(argv)

    config = load_config(args.config)
    data_dir = ROOT / "results" / "data" / "beir"
    out = Path(args.out)
    stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    if args.name == "bm25":
        measures = heldout_bm25(data_dir)
        append_row(out, {"date": stamp, "name": "bm25", "optim": "-", "heldout_ndcg10": f"{measures['ndcg_cut_10']:.4f}",
                         "heldout_mrr10": f"{measures['recip_rank_10']:.4f}", "load_1min": f"{os.getloadavg()[0]:.2f}"})
        print(measures)
        return

    model_key = next(iter(config["models"]))
    spec = config["models"][model_key]
    cfg = copy.deepcopy(config)
    cfg["study"]["epochs"] = args.epochs
    if args.batch_size:
        cfg["training"]["batch_size"] = args.batch_size
    cfg["overrides"] = {}
    if args.lr is not None:
        cfg["models"][model_key]["learning_rate"] = args.lr
    if args.head_lr is not None:
        if args.head_lr > 0:
            cfg["models"][model_key]["head_learning_rate"] = args.head_lr
        else:
            cfg["models"][model_key].pop("head_learning_rate", None)
    if args.scheduler:
        cfg["models"][model_key]["scheduler"] = args.scheduler
    if args.max_length:
        cfg["models"][model_key]["max_length"] = args.max_length
    if args.weight_decay is not None:
        cfg["optimizers"][args.optim]["weight_decay"] = args.weight_decay
    if args.bf16:
        cfg["training"]["bf16"] = True
        cfg["rerank"]["precision"] = "bf16"
    settings = run_settings(cfg, model_key, args.optim)

    work = Path(args.work) / args.name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    train_path = ROOT / "results" / "data" / "train.parquet"
    negatives = config["data"]["negatives"]
    if args.negatives is not None and args.negatives != negatives:
        from crossopt.beir_pairs import build_beir_training_files
        from crossopt.candidates import read_jsonl_texts
        from crossopt.data import write_pairs_parquet
        from crossopt.trec import read_topics

        data = {**config["data"], "negatives": args.negatives}
        testset = config["data"]["index_testset"]
        built = build_beir_training_files(
            read_qrels(data_dir / "qrels.txt"), read_topics(data_dir / "topics.tsv"), read_run(data_dir / "bm25.trec"),
            read_jsonl_texts(ROOT / "results" / "testsets" / testset / "collection" / "docs.jsonl"), data,
            config["testsets"][testset]["retrieval"]["depth"])
        train_path = work / "train.parquet"
        write_pairs_parquet(built["train"], train_path)
        negatives = args.negatives

    from crossopt.rerank import rerank_to_file
    from crossopt.train import train_cross_encoder
    import pandas as pd

    n_pairs = len(pd.read_parquet(train_path))
    epoch_dirs = [work / f"epoch{e}" for e in range(1, args.epochs + 1)]
    start = time.monotonic()
    train_cross_encoder(settings, str(ROOT / "results" / "base_models" / model_key), train_path,
                        ROOT / "results" / "data" / "heldout.parquet", work / "trainer", epoch_dirs,
                        work / "trainer_state.json", args.seed, resume=False)
    seconds = time.monotonic() - start
    state = json.loads((work / "trainer_state.json").read_text())
    summary = next((e for e in state["log_history"] if "train_runtime" in e), {})
    losses = [e for e in state["log_history"] if "loss" in e and "eval_loss" not in e]
    qrels = qrels_to_dict(read_qrels(data_dir / "heldout" / "qrels.txt"))
    steps_per_epoch = state["global_step"] // args.epochs
    for epoch, folder in enumerate(epoch_dirs, start=1):
        run_path = work / f"heldout-epoch{epoch}.trec"
        t0 = time.monotonic()
        rerank_to_file(folder, data_dir / "heldout" / "candidates.parquet", run_path,
                       cfg["rerank"]["batch_size"], settings["max_length"], args.name, cfg["rerank"])
        rerank_seconds = time.monotonic() - t0
        measures = evaluate_run(run_to_dict(read_run(run_path)), qrels, missing_queries="zero")["aggregate"]
        epoch_losses = [e["loss"] for e in losses if e["epoch"] <= epoch + 1e-9]
        this_epoch = [e["loss"] for e in losses if epoch - 1 + 1e-9 < e["epoch"] <= epoch + 1e-9]
        epoch_mean = sum(this_epoch) / len(this_epoch) if this_epoch else float("nan")
        row = {
            "date": stamp, "name": args.name, "optim": args.optim, "lr": settings["learning_rate"],
            "head_lr": settings.get("head_learning_rate", ""), "scheduler": settings["scheduler"],
            "max_length": settings["max_length"], "negatives": negatives, "train_pairs": n_pairs,
            "batch_size": settings["batch_size"], "epoch": epoch, "steps": steps_per_epoch * epoch,
            "train_seconds": f"{seconds:.0f}",
            "pairs_per_second": f"{summary.get('train_samples_per_second', float('nan')):.2f}",
            "final_loss": f"{epoch_losses[-1]:.4f}" if epoch_losses else "",
            "heldout_ndcg10": f"{measures['ndcg_cut_10']:.4f}", "heldout_mrr10": f"{measures['recip_rank_10']:.4f}",
            "rerank_seconds": f"{rerank_seconds:.0f}", "load_1min": f"{os.getloadavg()[0]:.2f}", "seed": args.seed,
            "weight_decay": settings["weight_decay"], "bf16": settings["bf16"],
            "epoch_mean_loss": f"{epoch_mean:.4f}", "trained": "yes" if epoch_mean <= TRAINED_BELOW else "no",
        }
        append_row(out, row)
        print(row)
    shutil.rmtree(work / "trainer", ignore_errors=True)


if __name__ == "__main__":
    main()
