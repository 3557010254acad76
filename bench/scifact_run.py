"""Run the SciFact profile from an empty results/ and commit a copy of its outputs.

This is how data/scifact/ was made. It runs exactly what `make scifact` runs
(snakemake --configfile config/scifact.yaml --cores 2 replication) after moving any
earlier results/, logs/ and benchmarks/ aside, samples the one-minute load average
every 15 s while it runs, and then copies into the export folder what the paper's
replication section is written from (crossopt/replication.py):

    eval/**.json            aggregate and per-query measures of every run (BM25, untrained, trained)
    stats/*.tsv             the paired tests and seed means
    models/**/trainer_state.json   training logs (loss, learning rate, gradient norm per step)
    data/beir/summary.json  the training pairs and the held-out slice
    benchmarks/**.tsv       Snakemake's per-job wall time and memory
    table.tsv, config.yaml  the results table and the profile's config as run
    provenance.json         command, date, wall time, load, package versions, machine

recipe_search.tsv (bench/scifact_recipe.py) already lives in the export folder and is kept.

    python bench/scifact_run.py                 # run, then export to data/scifact
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
PACKAGES = ["torch", "transformers", "sentence-transformers", "lion-pytorch", "pyserini", "pytrec-eval-terrier",
            "snakemake", "numpy", "scipy"]
COMMAND = ["snakemake", "--configfile", "config/scifact.yaml", "--cores", "2", "replication"]


def command(overlays: list[str]) -> list[str]:
    """COMMAND with overlays after the profile, e.g. config/scifact-local.yaml (the data from a local copy)."""
    return COMMAND[:3] + list(overlays) + COMMAND[3:]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def run_profile(run: list[str]) -> dict:
    """Run the profile from an empty results/; return wall time and load samples."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    for name in ("results", "logs", "benchmarks"):
        if (ROOT / name).exists():
            (ROOT / name).rename(ROOT / f"{name}.before-{stamp}")
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(15):
            samples.append(os.getloadavg()[0])

    thread = threading.Thread(target=sample, daemon=True)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    started = dt.datetime.now(dt.timezone.utc)
    start = time.monotonic()
    thread.start()
    result = subprocess.run(run, cwd=ROOT, env=env)
    wall = time.monotonic() - start
    done.set()
    if result.returncode != 0:
        raise SystemExit(f"the profile failed (exit {result.returncode}); nothing exported")
    return {"date": started.isoformat(timespec="seconds"), "wall_seconds": round(wall, 1),
            "load_average": {"samples": len(samples), "mean_1min": round(sum(samples) / max(len(samples), 1), 2),
                             "max_1min": round(max(samples, default=0.0), 2)}}


def export(out: Path, timing: dict | None, run: list[str] = COMMAND) -> None:
    results = ROOT / "results"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("eval", "stats", "models", "data", "benchmarks"):
        if (out / name).exists():
            shutil.rmtree(out / name)
    copies = (list((results / "eval").rglob("*.json")) + list((results / "stats").glob("*.tsv"))
              + list((results / "models").rglob("trainer_state.json")) + [results / "data" / "beir" / "summary.json"])
    for path in copies:
        target = out / path.relative_to(results)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    for path in (ROOT / "benchmarks").rglob("*.tsv"):
        target = out / "benchmarks" / path.relative_to(ROOT / "benchmarks")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    shutil.copy2(results / "table.tsv", out / "table.tsv")
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
    parser.add_argument("--overlay", action="append", default=[], metavar="YAML",
                        help="a config overlay after config/scifact.yaml, e.g. config/scifact-local.yaml "
                             "(BEIR SciFact from a local copy instead of the download); repeatable")
    args = parser.parse_args(argv)
    run = command(args.overlay)
    timing = None if args.export_only else run_profile(run)
    export(Path(args.out), timing, run)


if __name__ == "__main__":
    main()
