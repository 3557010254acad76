"""The workflow's config: config.yaml as the base, overlays on top, validated after the merge.

Dry runs of the real study (offline, no job runs): the Modal overlay plans the same
jobs as the local config, --config values are overlays too, and a config without
a pinned training set stops before any job starts.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHA = "0123456789abcdef0123456789abcdef01234567"  # a stand-in commit
# config.yaml's table and paper come from the researcher's evaluation files, copied into data/researcher-eval.
RESEARCHER_FILES = ROOT / "data" / "researcher-eval"  # the researcher's files, copied (data/researcher-eval/README.md)
needs_researcher_files = pytest.mark.skipif(
    not RESEARCHER_FILES.is_dir(),
    reason=f"config.yaml reads the researcher's evaluation files at {RESEARCHER_FILES}, and ../shared is "
           "absent (tests/test_config.py checks the pin logic without them)")


def pins(training: str = "") -> tuple[str, ...]:
    """--config values that pin the training data and the NanoBEIR evaluator (plus `training` keys)."""
    return (f"data={{hf_revision: {SHA}}}", f"training={{{training}evaluator: {{revision: {SHA}}}}}")


PIN = pins()
# config.yaml reports the researcher's files and trains nothing; this overlay reruns the study.
RERUN = ("--configfile", "config.yaml", "config/rerun.yaml")


def snakemake(*args: str, directory: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               HF_HUB_OFFLINE="1")
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(directory),
               "--cores", "1", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


def planned_jobs(*config_args: str) -> set[tuple[str, str]]:
    """(output file, rule) of every job `all` needs, from a dry-run summary."""
    result = snakemake("--summary", "all", *config_args)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split("\t") for line in result.stdout.splitlines()[1:] if "\t" in line]
    return {(row[0], row[2]) for row in rows}


def train_gpu_resource(*config_args: str) -> set[str]:
    """The train jobs' gpu resource (1 on the local backend, 0 when the job only waits on Modal)."""
    result = snakemake("-n", "all", *config_args)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == "rule train:"]
    return {next(l for l in lines[i:i + 12] if "resources:" in l).split("gpu=")[1].split(",")[0].strip()
            for i in starts}


@needs_researcher_files
def test_modal_overlay_plans_the_same_jobs_as_the_local_config():
    local = planned_jobs(*RERUN, "--config", *PIN)
    assert len(local) > 100 and ("results/table.tsv", "results_table") in local
    for overlay in (["--configfile", "config/rerun.yaml", "config/modal.yaml"],
                    ["--configfile", "config.yaml", "config/rerun.yaml", "config/modal.yaml"]):
        assert planned_jobs(*overlay, "--config", *PIN) == local, overlay
        assert train_gpu_resource(*overlay, "--config", *PIN) == {"0"}, overlay  # the overlay took effect
    assert train_gpu_resource(*RERUN, "--config", *PIN) == {"1"}


@needs_researcher_files
def test_reported_results_train_nothing_and_the_rerun_overlay_trains_every_run():
    """`all` of config.yaml is the table and the paper from the researcher's files; with
    config/rerun.yaml it trains 6 runs and the table is built from the computed evaluations."""
    reported = planned_jobs("--config", *PIN)
    assert not {rule for _, rule in reported} & {"train", "rerank", "evaluate", "significance", "cost_summary"}
    assert ("results/table.tsv", "results_table") in reported
    rerun = snakemake("-n", "all", *RERUN, "--config", *PIN)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert len(re.findall(r"^rule train:$", rerun.stdout, re.M)) == 6
    lines = rerun.stdout.splitlines()
    start = lines.index(next(line for line in lines if line.strip() in ("rule results_table:", "localrule results_table:")))
    inputs = next(line for line in lines[start:start + 5] if line.strip().startswith("input:")).split(":", 1)[1]
    inputs = [name.strip() for name in inputs.split(",")]
    assert len([i for i in inputs if i.startswith("results/eval/") and "/seed12/epoch" in i]) == 36, inputs[:5]
    assert not any(i.startswith("results/reported/") for i in inputs)


def test_config_values_on_the_command_line_are_an_overlay_too():
    # Before, --config replaced the whole config and validation failed.
    assert planned_jobs(*RERUN, "--config", *pins("backend: modal, "), "rerank={batch_size: 128}") \
        == planned_jobs(*RERUN, "--config", *PIN)
    assert train_gpu_resource(*RERUN, "--config", *pins("backend: modal, ")) == {"0"}


def test_overlay_on_a_complete_config_keeps_that_config():
    smoke_local = planned_jobs("--configfile", "config/smoke.yaml")
    assert any(rule == "tiny_model" for _, rule in smoke_local)
    assert planned_jobs("--configfile", "config/smoke.yaml", "config/modal.yaml") == smoke_local


def test_overlay_is_validated_after_the_merge():
    result = snakemake("-n", "all", "--config", *pins("backend: modl, "))
    assert result.returncode != 0
    assert "'training.backend': 'modl' is not one of ['local', 'modal']" in result.stdout + result.stderr


@needs_researcher_files
def test_unpinned_training_data_stops_before_any_job(tmp_path):
    """A real run (not a dry run) in an empty folder: validation fails before a job or a download starts."""
    result = snakemake("all", *RERUN, directory=tmp_path, timeout=120)
    assert result.returncode != 0
    assert "missing required key 'data.hf_revision'" in result.stdout + result.stderr
    # no job was scheduled: the error comes while the run is planned
    assert not re.search(r"^\s*(local)?rule \w+:$", result.stdout + result.stderr, re.M)
    assert "Select jobs to execute" not in result.stdout + result.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


@needs_researcher_files
def test_the_paper_from_reported_outputs_needs_no_pinned_training_data(tmp_path):
    """config.yaml's paper is built from the researcher's outputs: planning it trains nothing,
    so it needs no pinned training data, and it schedules no training job. (In an empty
    folder: in the repository, a `make paper` before would leave nothing to plan.)"""
    result = snakemake("-n", "paper", directory=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "import_reported_eval" in result.stdout
    assert not re.search(r"^\s*(local)?rule (train|training_pairs|candidates)\b", result.stdout, re.M)
