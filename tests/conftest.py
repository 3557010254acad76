import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_snakemake(workdir: Path, *args: str, configfile: Path | None = None, check: bool = True,
                  cores: str = "2") -> subprocess.CompletedProcess:
    """Snakemake on this repository's Snakefile in `workdir` (the smoke config unless told otherwise)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(configfile or ROOT / "config" / "smoke.yaml"), "--cores", cores, *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


# What `make smoke` leaves in the repository (the smoke study's working folder is the repository).
SMOKE_OUTPUTS = ("results", "logs", "benchmarks", ".snakemake/metadata", "paper/build")


def finished_smoke_in_repository() -> bool:
    """Whether the repository holds a finished `make smoke` that is up to date with the code and
    config checked out: a dry run of `all` with the smoke config plans nothing (inputs, params,
    code digests and software all unchanged since its jobs ran)."""
    if not (ROOT / "results" / "table.tsv").is_file() or not (ROOT / ".snakemake" / "metadata").is_dir():
        return False
    result = run_snakemake(ROOT, "-n", "all", check=False, cores="1")
    return result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory):
    """One finished run of the whole smoke DAG, shared by every test that reads its outputs.

    Where `make smoke` has just run it in the repository and nothing there is stale (README's
    sequence `make smoke && make test`, and CI), a copy of that run is used instead of running
    the DAG a second time; otherwise (or with CROSSOPT_FRESH_SMOKE=1) the DAG runs here from
    scratch. Tests that change files work on a copy (`copy_study`); tests/test_workflow.py
    reruns parts of this one and checks that they come out identical.
    """
    if shutil.which("java") is None:
        pytest.skip("Java is not installed: Pyserini's BM25 stage cannot run (apt-get install default-jdk-headless)")
    workdir = tmp_path_factory.mktemp("smoke")
    if os.environ.get("CROSSOPT_FRESH_SMOKE") != "1" and finished_smoke_in_repository():
        for name in SMOKE_OUTPUTS:
            if (ROOT / name).exists():
                shutil.copytree(ROOT / name, workdir / name, symlinks=True, copy_function=shutil.copy2)
        print(f"\nsmoke study: a copy of the finished, up-to-date `make smoke` in {ROOT} (CROSSOPT_FRESH_SMOKE=1 "
              "runs it afresh)")
        return workdir
    run_snakemake(workdir, "all")
    return workdir


def copy_study(study: Path, destination: Path) -> Path:
    """A copy of a finished study that Snakemake also sees as finished (times and metadata kept)."""
    shutil.copytree(study, destination, symlinks=True, copy_function=shutil.copy2)
    return destination


# The user property under which a test reports how many values it compared with trec_eval.
TREC_EVAL_PROPERTY = "trec_eval_values_compared"


@pytest.fixture
def count_trec_eval_comparisons(request):
    """Add the number of values a test compared with trec_eval (shown at the end of the run).

    The count travels in the test's report (user_properties), so that it reaches the summary
    from pytest-xdist's workers too."""
    def add(n: int) -> None:
        request.node.user_properties.append((TREC_EVAL_PROPERTY, n))

    return add


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    counts: dict[str, int] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for name, value in getattr(report, "user_properties", ()):
                if name == TREC_EVAL_PROPERTY:
                    counts[report.nodeid] = counts.get(report.nodeid, 0) + value
    if counts:
        terminalreporter.write_line(
            f"trec_eval 10.0 comparison: {sum(counts.values())} values compared to 4 decimals "
            f"in {len(counts)} tests (tests/test_trec_eval_binary.py)"
        )
