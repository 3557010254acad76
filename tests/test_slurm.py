"""The SLURM profile (profiles/slurm) against a real SLURM cluster and the real executor plugin.

The first tests need no cluster: what every rule asks a cluster for (README's table, the `cluster`
section of the config) and a dry run through the profile with the plugin that requirements.txt
pins. The tests marked `slurm_cluster` run a small smoke study through `--profile profiles/slurm`
on the cluster that `sinfo` reports, for example the single-node one of `.ci/slurm-up`. `make test`
leaves them out; `make test-slurm` runs them alone and `make test SLURM_TESTS=1` with the others
(CI), and both set CROSSOPT_REQUIRE_SLURM=1, which makes a missing cluster a failure (a plain
`pytest tests/test_slurm.py` skips them, saying why). On another cluster, put your account and
partition in config/cluster.yaml (or name an overlay in CROSSOPT_CLUSTER_CONFIG) and, unless /tmp
is shared with the nodes, name a shared folder in CROSSOPT_SLURM_WORKDIR.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

PROFILE = ROOT / "profiles" / "slurm"
SNAKEFILE = ROOT / "Snakefile"
TARGET = "results/table.tsv"
# The rules whose jobs the small study must send through sbatch: one of each kind.
KINDS = {"smoke_collection", "training_pairs", "tiny_model", "prepare_local_testset", "bm25_index",
         "bm25_search", "candidates", "train", "rerank", "evaluate", "evaluate_first_stage"}


def snakemake_env() -> dict:
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def cluster_overlay() -> list[str]:
    """The local overlay with the account and partition, if the user has one."""
    named = os.environ.get("CROSSOPT_CLUSTER_CONFIG")
    if named:
        if not Path(named).is_file():
            raise FileNotFoundError(f"CROSSOPT_CLUSTER_CONFIG names {named}, which does not exist")
        return [str(Path(named).resolve())]
    own = ROOT / "config" / "cluster.yaml"
    return [str(own)] if own.is_file() else []


# --- what the rules ask for (no cluster needed) -------------------------------------------------

def workflow_rules(*configfiles: Path) -> tuple[dict, set]:
    """Every rule of the workflow read with these config files: name -> its resources (the plain
    values, threads as `_cores`, with `norun` for target rules), and the names of the local rules.
    Snakemake's API has no public accessor for a parsed rule's resources; this reads them the way
    Snakemake 9.27 (requirements.txt) keeps them."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=list(configfiles)),
            snakefile=SNAKEFILE,
            workdir=ROOT,
        )._workflow
        rules = {}
        for rule in workflow.rules:
            values = {}
            for name, value in rule.resources.items():
                if name != "tmpdir":  # a function of the job (the node's temporary folder)
                    values[name] = getattr(value, "value", value)
            values["norun"] = rule.norun
            rules[rule.name] = values
        return rules, set(workflow._localrules)


def readme_resource_table() -> dict[str, list[str]]:
    """The rows of README's table of what each rule asks a cluster for."""
    text = (ROOT / "README.md").read_text()
    start = text.index("| rule | cores | memory (MB) | time (min) | GPUs |")
    rows = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_every_cluster_job_declares_its_memory_and_time_and_the_readme_lists_them():
    # The SciFact config defines every rule the others do, and the BEIR and replication ones too.
    rules, local = workflow_rules(ROOT / "config" / "scifact.yaml")
    cluster_jobs = {name: r for name, r in rules.items() if name not in local and not r["norun"]}
    assert {"bm25_search", "train", "rerank", "evaluate"} <= set(cluster_jobs)
    missing = sorted(name for name, r in cluster_jobs.items() if "mem_mb" not in r or "runtime" not in r)
    assert not missing, f"rules that a cluster would run without mem_mb or runtime: {missing}"

    table = readme_resource_table()
    assert set(table) == set(cluster_jobs), (
        f"README's table lists {sorted(set(table) - set(cluster_jobs))} too many and "
        f"misses {sorted(set(cluster_jobs) - set(table))}")
    for name, r in cluster_jobs.items():
        cores, memory, runtime, gpus = table[name]
        assert [int(cores), int(memory), int(runtime)] == [r["_cores"], r["mem_mb"], r["runtime"]], name
        # A model-running rule's GPU count depends on the config (rules/common.smk, gpu_count).
        assert gpus == ("0 or 1" if "gpu" in r else "0"), name
        # Nothing is larger than a laptop-sized node unless the user scales it.
        assert r["_cores"] <= 2 and r["mem_mb"] <= 4000, name


def test_the_cluster_section_scales_every_job_and_routes_gpu_jobs(tmp_path):
    overlay = tmp_path / "cluster.yaml"
    overlay.write_text(yaml.safe_dump({
        "cluster": {"account": "lab", "partition": "cpu", "gpu_partition": "gpu", "gpu_model": "a100",
                    "memory_scale": 2.5, "runtime_scale": 0.5},
        "training": {"use_cpu": False},
    }))
    plain, _ = workflow_rules(ROOT / "config" / "smoke.yaml")
    scaled, _ = workflow_rules(ROOT / "config" / "smoke.yaml", overlay)
    for name in ("bm25_search", "evaluate", "train", "rerank"):
        assert scaled[name]["mem_mb"] == -(-plain[name]["mem_mb"] * 5 // 2), name
        assert scaled[name]["runtime"] == -(-plain[name]["runtime"] // 2), name
        assert scaled[name]["slurm_account"] == "lab", name
    assert scaled["bm25_search"]["slurm_partition"] == "cpu" and "gpu_model" not in scaled["bm25_search"]
    for name in ("train", "rerank"):
        assert scaled[name]["gpu"] == 1 and scaled[name]["slurm_partition"] == "gpu", name
        assert scaled[name]["gpu_model"] == "a100", name
    # Without the overlay: no account, no partition (the cluster's default), no GPU on the smoke study.
    assert "slurm_account" not in plain["train"] and "slurm_partition" not in plain["train"]
    assert plain["train"]["gpu"] == 0 and plain["rerank"]["gpu"] == 0


def test_a_misspelt_cluster_key_stops_the_run_naming_it(tmp_path):
    overlay = tmp_path / "cluster.yaml"
    overlay.write_text("cluster: {acount: lab, memory_scale: 0}\n")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", TARGET, "-n", "--cores", "1", "-s", str(SNAKEFILE),
         "--directory", str(tmp_path), "--configfile", str(ROOT / "config" / "smoke.yaml"), str(overlay)],
        capture_output=True, text=True, env=snakemake_env())
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "unknown key 'acount' in 'cluster'" in output
    assert "'cluster.memory_scale': 0 is less than or equal to the minimum of 0" in output


def test_the_profile_plans_the_smoke_study_with_the_pinned_plugin(tmp_path):
    """The profile's keys are options of Snakemake and of the plugin that requirements.txt pins; a
    dry run needs no cluster."""
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert pins["snakemake-executor-plugin-slurm"] == "2.8.0"
    assert importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None, \
        f"snakemake-executor-plugin-slurm is not installed in {sys.executable}'s environment (make setup)"
    from importlib.metadata import version

    assert version("snakemake-executor-plugin-slurm") == pins["snakemake-executor-plugin-slurm"]
    assert version("snakemake-executor-plugin-slurm-jobstep") == pins["snakemake-executor-plugin-slurm-jobstep"]
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", TARGET, "-n", "--profile", str(PROFILE), "-s", str(SNAKEFILE),
         "--directory", str(tmp_path), "--configfile", str(ROOT / "config" / "smoke.yaml")],
        capture_output=True, text=True, env=snakemake_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "rerank" in result.stdout and "group" not in result.stdout


# --- the small study on a real cluster ------------------------------------------------------------

def cluster_problem() -> str | None:
    """Why the SLURM tests cannot run here, or None."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return (f"snakemake-executor-plugin-slurm is not installed in {sys.executable}'s environment "
                "(make setup installs requirements.txt)")
    if shutil.which("sinfo") is None:
        return "no SLURM here (sinfo not found): .ci/slurm-up starts a single-node test cluster"
    states = subprocess.run(["sinfo", "--noheader", "--Node", "--format=%t"], capture_output=True, text=True)
    if states.returncode != 0:
        return f"sinfo failed ({states.stderr.strip()}): is slurmctld running? (.ci/slurm-up)"
    if not {"idle", "mix"} & set(states.stdout.split()):
        return f"no idle SLURM node (sinfo: {' '.join(states.stdout.split()) or 'no nodes'})"
    if shutil.which("java") is None:
        return "Java is not installed: Pyserini's BM25 stage cannot run (apt-get install default-jdk-headless)"
    return None


@pytest.fixture(scope="module")
def cluster():
    problem = cluster_problem()
    if problem:
        if os.environ.get("CROSSOPT_REQUIRE_SLURM") == "1":
            pytest.fail(f"CROSSOPT_REQUIRE_SLURM=1, but {problem}")
        pytest.skip(problem)


def small_smoke_config() -> dict:
    """config/smoke.yaml cut down to one model, one optimizer, one seed, one epoch and one test
    set: a job of every kind (BM25, training, reranking, evaluation, the table) in a few minutes."""
    config = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    model = "minilm"
    config["study"].update(seeds=config["study"]["seeds"][:1], epochs=1)
    config["models"] = {model: config["models"][model]}
    config["optimizers"] = {"adamw": config["optimizers"]["adamw"]}
    config["overrides"] = {}
    config["data"].update(pairs=1500, heldout=200)
    testset = "smoke-dl"
    for key in config["testsets"]:
        config["testsets"][key]["enabled"] = key == testset
    for column in config["table"]["columns"].values():
        column["testset"] = testset
    config.setdefault("paper", {})["figure_model"] = model
    return config


@pytest.fixture(scope="module")
def study_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("slurm-config") / "small-smoke.yaml"
    path.write_text(yaml.safe_dump(small_smoke_config(), sort_keys=False))
    return path


def workdir_base(tmp_path_factory, name: str) -> Path:
    shared = os.environ.get("CROSSOPT_SLURM_WORKDIR")
    if not shared:
        return tmp_path_factory.mktemp(name)
    path = Path(shared) / f"{name}-{os.getpid()}-{time.time_ns()}"
    path.mkdir(parents=True)
    return path


# A run that waits for job states it never gets (the old profile's sacct without accounting) would
# otherwise hang the test session; the small study took 3 minutes on a loaded 2-core machine.
RUN_TIMEOUT = int(os.environ.get("CROSSOPT_SLURM_TIMEOUT", "900"))


def run(workdir: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """Snakemake in `workdir` (also its current folder: the plugin keeps its logs in ./.snakemake)."""
    command = [sys.executable, "-m", "snakemake", *args, "-s", str(SNAKEFILE), "--directory", str(workdir)]
    start = time.monotonic()
    try:
        result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, env=snakemake_env(),
                                timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as expired:
        output = "".join(part.decode() if isinstance(part, bytes) else part or ""
                         for part in (expired.stdout, expired.stderr))
        uuid = re.search(r"^SLURM run ID: (\S+)$", output, re.M)
        if uuid:  # the jobs Snakemake left queued or running
            subprocess.run(["scancel", "--name", uuid.group(1)], capture_output=True)
        pytest.fail(f"snakemake {' '.join(args)} ran past {RUN_TIMEOUT} s (CROSSOPT_SLURM_TIMEOUT):\n{output[-4000:]}")
    (workdir / "snakemake-output.txt").write_text(result.stdout + result.stderr)
    return result, time.monotonic() - start


@pytest.fixture(scope="module")
def slurm_run(cluster, study_config, tmp_path_factory):
    """The small study through the profile: the target first, then --configfile (the study, then the
    local overlay if there is one), so that no config file swallows the target."""
    workdir = workdir_base(tmp_path_factory, "slurm-run")
    result, seconds = run(workdir, TARGET, "--profile", str(PROFILE),
                          "--configfile", str(study_config), *cluster_overlay())
    print(f"\nSLURM run: {seconds:.0f} s in {workdir}")
    assert result.returncode == 0, f"snakemake through SLURM failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return workdir, result.stdout + result.stderr


@pytest.fixture(scope="module")
def local_run(cluster, study_config, tmp_path_factory):
    workdir = workdir_base(tmp_path_factory, "local-run")
    result, seconds = run(workdir, TARGET, "--cores", "2", "--configfile", str(study_config), *cluster_overlay())
    print(f"\nlocal run: {seconds:.0f} s in {workdir}")
    assert result.returncode == 0, f"the local run failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return workdir


SUBMITTED = re.compile(r"^Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.$", re.M)


def submissions(log: str) -> list[tuple[str, str, str]]:
    """(Snakemake job id, SLURM job id, rule) of every sbatch submission the plugin logged."""
    found = []
    for job, slurm_job, slurm_log in SUBMITTED.findall(log):
        rule = re.search(r"/slurm_logs/rule_([A-Za-z0-9_]+)/", slurm_log)
        assert rule, f"no rule in the SLURM log path {slurm_log}"
        found.append((job, slurm_job, rule.group(1)))
    return found


def run_uuid(log: str) -> str:
    found = re.search(r"^SLURM run ID: (\S+)$", log, re.M)
    assert found, "the plugin logged no SLURM run ID"
    return found.group(1)


def slurm_states(name: str) -> dict[str, str]:
    """SLURM job id -> state of the jobs named `name` (the plugin names a run's jobs by its run ID),
    from squeue (finished jobs for MinJobAge seconds; .ci/slurm-up keeps them an hour) and, where
    the cluster has accounting, sacct."""
    states = {}
    squeue = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T", "--name", name],
                            capture_output=True, text=True)
    assert squeue.returncode == 0, f"squeue failed: {squeue.stderr}"
    sacct = subprocess.run(["sacct", "-X", "--parsable2", "--noheader", "--format=JobIdRaw,State",
                            "--starttime", "now-1days", "--name", name], capture_output=True, text=True)
    for output in ([sacct.stdout] if sacct.returncode == 0 else []) + [squeue.stdout]:
        for line in output.splitlines():
            job, _, state = line.partition("|")
            if job.strip():
                states[job.strip()] = state.split()[0] if state.split() else ""
    return states


def planned_jobs(log: str) -> dict[str, int]:
    """The run's first 'Job stats' table: rule -> jobs."""
    table = log[log.index("Job stats:"):]
    counts = {}
    for line in table.splitlines()[3:]:
        name, _, count = line.rpartition(" ")
        if name.strip() == "total":
            break
        counts[name.strip()] = int(count)
    return counts


@pytest.mark.slurm_cluster
def test_every_job_went_through_sbatch_and_slurm_saw_it_complete(slurm_run):
    workdir, log = slurm_run
    planned = planned_jobs(log)
    local_jobs = re.findall(r"^localrule (\w+):$", log, re.M)
    submitted = submissions(log)
    assert local_jobs == ["results_table"], "only the table is a local rule in this run"
    assert len(submitted) == sum(planned.values()) - len(local_jobs), (planned, submitted)
    assert len({job for job, _, _ in submitted}) == len(submitted), "a job was submitted twice"
    assert {rule for _, _, rule in submitted} == KINDS
    states = slurm_states(run_uuid(log))
    for _, slurm_job, rule in submitted:
        assert states.get(slurm_job) == "COMPLETED", (
            f"SLURM job {slurm_job} ({rule}): state {states.get(slurm_job)!r} under the run's name; "
            f"seen: {states}")
    assert (workdir / TARGET).is_file()


# Files whose bytes differ between any two runs, local or not, and how they are compared instead.
LUCENE_INDEX = "results/indexes/"  # Lucene writes a random segment id and times into every index file
TIMING_KEYS = re.compile(r"(_runtime|_per_second|wall_seconds|recorded|finished)$")
MODEL_CARD_TIMES = re.compile(r"^- \*\*(Training|Evaluation|Total)\*\*: [0-9.]+ (seconds|minutes|hours)$", re.M)


def without_timings(value):
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if not TIMING_KEYS.search(k)}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def without_times(path: Path):
    """The contents of a file that records wall-clock times, without them; None for other files."""
    name = path.name
    if name in ("cost.json", "trainer_state.json", "finished.json") or name.endswith(".cost.json"):
        return without_timings(json.loads(path.read_bytes()))
    if name == "README.md":  # sentence-transformers' model card states the training time
        return MODEL_CARD_TIMES.sub("", path.read_text())
    return None


@pytest.mark.slurm_cluster
def test_the_outputs_are_those_of_a_local_run(slurm_run, local_run):
    slurm_dir, _ = slurm_run

    def files(root: Path) -> dict[str, Path]:
        return {p.relative_to(root).as_posix(): p for p in (root / "results").rglob("*") if p.is_file()}

    on_slurm, local = files(slurm_dir), files(local_run)
    assert set(on_slurm) == set(local), sorted(set(on_slurm) ^ set(local))
    same_bytes, same_without_times = [], []
    for relative in sorted(local):
        if relative.startswith(LUCENE_INDEX):
            continue  # compared through the BM25 run searched from it
        if on_slurm[relative].read_bytes() == local[relative].read_bytes():
            same_bytes.append(relative)
            continue
        normalized = without_times(on_slurm[relative])
        assert normalized is not None, f"{relative} differs between the SLURM run and the local run"
        assert normalized == without_times(local[relative]), f"{relative} differs beyond its recorded times"
        same_without_times.append(relative)
    for key in (TARGET, "results/runs/bm25/smoke-dl.trec", "results/runs/minilm/adamw/seed12/epoch1/smoke-dl.trec",
                "results/eval/minilm/adamw/seed12/epoch1/smoke-dl.json",
                "results/models/minilm/adamw/seed12/epoch1/model.safetensors"):
        assert key in same_bytes, key
    assert len(same_bytes) >= 30, same_bytes


@pytest.mark.slurm_cluster
def test_a_failing_job_is_reported_failed_and_its_partial_output_removed(slurm_run, study_config, tmp_path_factory):
    """BM25 over topics that match no passage: Pyserini writes an empty run and exits 0, the rule's
    check then fails. Snakemake must report the job failed, after the profile's retries, and remove
    the run file it left."""
    finished, _ = slurm_run
    workdir = workdir_base(tmp_path_factory, "slurm-failure")
    shutil.copytree(finished, workdir, dirs_exist_ok=True, symlinks=True, copy_function=shutil.copy2)
    topics = workdir / "results" / "testsets" / "smoke-dl" / "topics.tsv"
    topics.write_text("".join(f"{line.split(chr(9))[0]}\tqqzzxq\n" for line in topics.read_text().splitlines()))
    target = "results/runs/bm25/smoke-dl.trec"
    result, seconds = run(workdir, target, "--profile", str(PROFILE), "--configfile", str(study_config),
                          *cluster_overlay())
    print(f"\nfailing SLURM run: {seconds:.0f} s")
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Error in rule bm25_search:" in log
    submitted = submissions(log)
    retries = yaml.safe_load((PROFILE / "config.yaml").read_text()).get("retries", 0)
    assert [rule for _, _, rule in submitted] == ["bm25_search"] * (1 + retries)
    states = slurm_states(run_uuid(log))
    for _, slurm_job, _ in submitted:
        assert states.get(slurm_job) == "FAILED", (slurm_job, states)
    # The run file existed when the check read it, and is gone now.
    rule_log = (workdir / "logs" / "runs" / "bm25" / "smoke-dl.log").read_text()
    assert f"run file {target} is empty" in rule_log
    assert not (workdir / target).exists(), "the failed job's partial output is still there"
    slurm_log = Path(SUBMITTED.findall(log)[-1][2])
    assert f"Removing output files of failed job bm25_search since they might be corrupted:\n{target}" in \
        slurm_log.read_text()
