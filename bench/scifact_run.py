"""Run the SciFact profile a seed at a time and export each finished seed's files.

This is how data/scifact/ was made. It runs what `make scifact` runs (snakemake
--configfile config/scifact.yaml --cores 2 replication), in stages: the seeds one after
the other (both optimizers' trainings, every checkpoint reranked and evaluated, the
untrained head), then the rest (BM25, the tests, the table, the section and its PDF).
After every stage it copies into the export folder what the paper's replication section
is written from (crossopt/replication.py), so that an interruption loses at most the
seed in progress; run it again and Snakemake resumes from the finished files (a
training interrupted mid-run restarts from its last epoch checkpoint). With --fresh it
first moves any earlier results/, logs/ and benchmarks/ aside. It samples the one-minute
load average every 15 s while Snakemake runs. What it exports:

    eval/**.json            aggregate and per-query measures of every run (BM25, untrained, trained)
    stats/*.tsv             the paired tests and seed means
    models/**/trainer_state.json   training logs (loss, learning rate, gradient norm per step)
    data/beir/summary.json  the training pairs and the held-out slice
    benchmarks/**.tsv       Snakemake's per-job wall time and memory
    table.tsv, config.yaml  the results table and the profile's config as run
    provenance.json         command, date, wall time, load, package versions, machine

recipe_search.tsv (bench/scifact_recipe.py) already lives in the export folder and is kept.

    python bench/scifact_run.py --fresh         # from an empty results/, exporting to data/scifact
    python bench/scifact_run.py                 # resume where an interrupted run stopped
    python bench/scifact_run.py --commit        # also git-commit data/scifact after each stage
    python bench/scifact_run.py --export-only   # export an existing results/ (no timing)
    python bench/scifact_run.py --overlay config/scifact-local.yaml   # offline: the data from a local copy
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/<script>.py` from any interpreter, before .venv exists too: the
# package is imported from this checkout.
sys.path.insert(0, str(ROOT))

from crossopt.machine import cpu_name  # noqa: E402
PACKAGES = ["torch", "transformers", "sentence-transformers", "lion-pytorch", "pyserini", "pytrec-eval-terrier",
            "snakemake", "numpy", "scipy"]
COMMAND = ["snakemake", "--configfile", "config/scifact.yaml", "--cores", "2", "replication"]


def command(overlays: list[str]) -> list[str]:
    """COMMAND with overlays after the profile, e.g. config/scifact-local.yaml (the data from a local copy)."""
    return COMMAND[:3] + list(overlays) + COMMAND[3:]


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def stages(config: dict) -> list[tuple[str, list[str]]]:
    """(name, Snakemake targets) in the order they run: one stage per seed, then the rest."""
    model = next(iter(config["models"]))
    optims = list(config["optimizers"])
    testsets = list(config["testsets"])
    epochs = int(config["study"]["epochs"])
    found = []
    for seed in config["study"]["seeds"]:
        targets = [f"results/eval/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.json"
                   for optim in optims for epoch in range(1, epochs + 1) for testset in testsets]
        targets += [f"results/eval/untrained/{model}/seed{seed}/{testset}.json" for testset in testsets]
        found.append((f"seed {seed}", targets))
    found.append(("tests, table and paper", ["replication"]))
    return found


def run_profile(out: Path, fresh: bool, commit: bool, run: list[str] = COMMAND) -> dict:
    """Run the stages, exporting after each; return wall time and load samples."""
    import yaml

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    if fresh:
        for name in ("results", "logs", "benchmarks"):
            if (ROOT / name).exists():
                (ROOT / name).rename(ROOT / f"{name}.before-{stamp}")
    config = yaml.safe_load((ROOT / "config" / "scifact.yaml").read_text())
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(15):
            samples.append(os.getloadavg()[0])

    thread = threading.Thread(target=sample, daemon=True)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    started = dt.datetime.now(dt.timezone.utc)
    code_commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    start = time.monotonic()
    thread.start()
    walls = {}
    for name, targets in stages(config):
        stage_start = time.monotonic()
        result = subprocess.run(run[:-1] + ["--rerun-incomplete"] + targets, cwd=ROOT, env=env)
        walls[name] = round(time.monotonic() - stage_start, 1)
        if result.returncode != 0:
            done.set()
            raise SystemExit(f"stage {name!r} failed (exit {result.returncode}); the stages before it are exported")
        timing = {"commit": code_commit, "date": started.isoformat(timespec="seconds"), "wall_seconds": round(time.monotonic() - start, 1),
                  "stage_wall_seconds": dict(walls), "complete": name == "tests, table and paper",
                  "resumed": not fresh,
                  "load_average": {"samples": len(samples),
                                   "mean_1min": round(sum(samples) / max(len(samples), 1), 2),
                                   "max_1min": round(max(samples, default=0.0), 2)}}
        export(out, timing, run)
        if commit:
            subprocess.run(["git", "add", "--", str(out)], cwd=ROOT, check=True)
            subprocess.run(["git", "commit", "-q", "-m", f"data/scifact: {name} of the SciFact replication finished",
                            "--", str(out)], cwd=ROOT, check=False)
    done.set()
    return timing


def export(out: Path, timing: dict | None, run: list[str] = COMMAND) -> None:
    results = ROOT / "results"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("eval", "stats", "models", "data", "benchmarks"):
        if (out / name).exists():
            shutil.rmtree(out / name)
    copies = (list((results / "eval").rglob("*.json")) + list((results / "stats").glob("*.tsv"))
              + list((results / "models").rglob("trainer_state.json")) + [path for path in [results / "data" / "beir" / "summary.json"] if path.exists()])
    for path in copies:
        target = out / path.relative_to(results)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    for path in (ROOT / "benchmarks").rglob("*.tsv"):
        target = out / "benchmarks" / path.relative_to(ROOT / "benchmarks")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    if (results / "table.tsv").exists():
        shutil.copy2(results / "table.tsv", out / "table.tsv")
    elif (out / "table.tsv").exists():
        (out / "table.tsv").unlink()      # an earlier run's table, not this one's
    shutil.copy2(ROOT / "config" / "scifact.yaml", out / "config.yaml")
    if timing is not None:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        provenance = {"command": " ".join(run), "commit": commit, **timing, "python": platform.python_version(),
                      "packages": versions(), "machine": {"cpu": cpu_name(), "cores": os.cpu_count(),
                                                          "system": platform.platform()}}
        (out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"exported {len(copies)} result files to {out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "data" / "scifact"))
    parser.add_argument("--export-only", action="store_true", help="copy an existing results/; keep provenance.json")
    parser.add_argument("--fresh", action="store_true", help="move results/, logs/ and benchmarks/ aside first")
    parser.add_argument("--commit", action="store_true", help="git-commit the export folder after each stage")
    parser.add_argument("--overlay", action="append", default=[], metavar="YAML",
                        help="a config overlay after config/scifact.yaml, e.g. config/scifact-local.yaml "
                             "(BEIR SciFact from a local copy instead of the download); repeatable")
    args = parser.parse_args(argv)
    run = command(args.overlay)
    if args.export_only:
        export(Path(args.out), None, run)
    else:
        run_profile(Path(args.out), args.fresh, args.commit, run)


if __name__ == "__main__":
    main()
