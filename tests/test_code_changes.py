"""Code is part of what a result depends on (crossopt/codehash.py).

On a finished smoke study, with a copy of this repository's workflow in which one file is
edited: what `snakemake --summary` plans after the edit, against what it plans in the
unedited copy (the copy's paper sources lie in another folder, so its paper may be planned
in both), and what a forced training does after a change to the training code.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_study

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
WORKFLOW = ("Snakefile", "config.yaml", "rules", "scripts", "crossopt", "config", "envs", "paper", "report", "data",
            "pyproject.toml")


def workflow_copy(destination: Path) -> Path:
    destination.mkdir(parents=True)
    for name in WORKFLOW:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, copy_function=shutil.copy2,
                            ignore=shutil.ignore_patterns("__pycache__", "build"))
        else:
            shutil.copy2(source, destination / name)
    return destination


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} no longer contains {old!r}: update this test"
    path.write_text(text.replace(old, new, 1))


def snakemake(repo: Path, study: Path, *args: str) -> subprocess.CompletedProcess:
    # PYTHONPATH: the jobs' scripts import the copy's package, not the installed one.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(repo))
    command = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory", str(study),
               "--configfile", str(repo / "config" / "smoke.yaml"), "--cores", "2", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-4000:]}"
    return result


def planned(repo: Path, study: Path) -> set[str]:
    """Outputs a dry run of `all` would (re)build."""
    rows = [line.split("\t") for line in snakemake(repo, study, "--summary", "all").stdout.splitlines()[1:]
            if "\t" in line]
    return {row[0] for row in rows if row[-1] != "no update"}


PAPER = re.compile(r"^(results/paper/|results/figures/|paper/build/)")


def test_a_code_change_reruns_what_imports_it_and_a_comment_reruns_nothing(smoke_study, tmp_path):
    repo = workflow_copy(tmp_path / "repo")
    baseline = planned(repo, smoke_study)
    assert not {o for o in baseline if not PAPER.match(o)}, sorted(baseline)  # only the moved paper sources

    # A comment, a blank line and a docstring in a module every evaluation imports: nothing reruns.
    edit(repo / "crossopt" / "evaluate.py", "from __future__ import annotations\n",
         "from __future__ import annotations\n\n# a comment that changes no number\n")
    edit(repo / "crossopt" / "trec.py", '    """Read a topics TSV', '    """Read (really) a topics TSV')
    assert planned(repo, smoke_study) == baseline

    # One line of evaluation code (MRR cut at 5 instead of 10): every evaluation and all that
    # is built from them, nothing upstream of them.
    edit(repo / "crossopt" / "evaluate.py", "rr.evaluate(ranked(run, 10))", "rr.evaluate(ranked(run, 5))")
    after = planned(repo, smoke_study)
    evaluations = {o for o in after if o.startswith("results/eval/")}
    assert len(evaluations) == 74, sorted(after)  # 72 checkpoint x test set evaluations + 2 BM25
    assert {"results/table.tsv", "results/stats/significance.tsv", "paper/build/main.pdf"} <= after
    upstream = {o for o in after if o.startswith(("results/runs/", "results/models/", "results/testsets/"))}
    assert not upstream, sorted(upstream)


def test_a_table_change_reruns_the_table_not_the_evaluations(smoke_study, tmp_path):
    repo = workflow_copy(tmp_path / "repo")
    baseline = planned(repo, smoke_study)
    edit(repo / "crossopt" / "table.py", 'f"{value:.4f}"', 'f"{value:.3f}"')
    after = planned(repo, smoke_study) - baseline
    assert "results/table.tsv" in after
    assert not {o for o in after if o.startswith(("results/eval/", "results/runs/", "results/models/"))}, sorted(after)


def test_forcerun_train_after_a_code_change_trains_from_the_base_model(smoke_study, tmp_path):
    """The reported stale case: ten times the learning rate in crossopt/train.py, then
    `--forcerun train`. The job must train anew, not resume the old final checkpoint."""
    study = copy_study(smoke_study, tmp_path / "study")
    run = "results/models/minilm/adamw/seed12"
    weights = study / run / "epoch3" / "model.safetensors"
    before = hashlib.sha256(weights.read_bytes()).hexdigest()
    old_dirs = set((study / "results/train/minilm/adamw/seed12").iterdir())
    repo = workflow_copy(tmp_path / "repo")
    edit(repo / "crossopt" / "train.py", 'lr, betas = settings["learning_rate"], tuple(settings["betas"])',
         'lr, betas = 10 * settings["learning_rate"], tuple(settings["betas"])')
    snakemake(repo, study, "--forcerun", "train", "--", f"{run}/trainer_state.json")
    state = json.loads((study / run / "trainer_state.json").read_text())
    assert state["study_summary"]["resumed_from"] is None
    assert hashlib.sha256(weights.read_bytes()).hexdigest() != before
    peak = max(entry["learning_rate"] for entry in state["log_history"] if "learning_rate" in entry)
    # The logged rate at the logging step nearest the end of warm-up: about ten times the config's.
    assert peak == pytest.approx(10 * state["study_summary"]["settings"]["learning_rate"], rel=0.02)
    new_dirs = set((study / "results/train/minilm/adamw/seed12").iterdir())
    assert len(new_dirs) == 1 and not new_dirs & old_dirs  # a new fingerprint; the old folder removed after
