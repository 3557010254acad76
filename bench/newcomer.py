"""What a newcomer pays: `make setup`, `make smoke` and `make test` timed on a fresh clone.

The repository's HEAD is cloned (`git clone`, then the commit checked out) into a new folder
with no ../shared beside it, and there the README's commands run one after the other:

    make setup   the .venv from scratch (never an existing one); pip's cache may be warm
    make smoke   the smoke study (snakemake --configfile config/smoke.yaml ... all)
    make test    the test suite

Each is timed, with the machine's load average before, during and after. The finished smoke
run is then read back from the clone, job by job: Snakemake's metadata (.snakemake/metadata:
each job's rule, start, end, logs), its benchmarks/ TSVs and its logs. The report gives, per
rule: the jobs, their total and mean seconds and the rule's share of all job time, and the
fixed cost per job, the time a job spends before its first real work, measured two ways:

  to log open   from Snakemake's start of the job to the creation of its log file, which
                crossopt.logs.log_to opens once the script's top-level imports are done
                (the file's birth time). It needs nothing but the run's files, so it also
                reads runs of older commits. It does not count imports a script makes later,
                inside its work (the rerank script imports torch there). Shell rules are left
                out: their log is opened by the shell before the command starts.
  start-up      Snakemake's start of the job to the process start, plus the interpreter's
                start, plus every import the job's script makes, lazy ones included. A
                sitecustomize.py that this script puts on PYTHONPATH for the timed commands
                records these per script job (it times builtins.__import__ and
                importlib.import_module); it changes nothing else and is not in the clone.

The same recorder notes each Snakemake process that a test starts (PYTEST_CURRENT_TEST) and
the Snakemake log it writes, whose "Finished jobid: N (Rule: X)" lines say which rules the
test ran: the report lists every rule of rules/*.smk with the tests that run it.

A row goes to docs/performance.md (section "Newcomer: make setup, smoke and test on a fresh
clone"): date, commit, machine (/proc/cpuinfo), cores, load before/during/after, the times,
the smoke study's job count and the fixed cost of a rerank job. The full report is printed
and written as JSON.

    python bench/newcomer.py                       # the full run: about 30 minutes on 2 cores
    python bench/newcomer.py --skip-test           # setup and smoke only
    python bench/newcomer.py --dry-run             # clone, print what would run, stop
    python bench/newcomer.py --analyze-existing /work/main   # only read a finished smoke run
    python bench/newcomer.py --warm-pip-cache      # make setup once untimed first, so pip's cache is warm
    python bench/newcomer.py --pip-cache-dir ~/.cache/pip --find-links /wheels   # pip's sources
    python bench/newcomer.py --baseline 9ce1a0a    # also setup and smoke of that commit first, compared

Run it on an otherwise idle machine; the load columns say how idle it was.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/<script>.py` from any interpreter, before .venv exists too: the
# package is imported from this checkout.
sys.path.insert(0, str(ROOT))

from crossopt.machine import cpu_name  # noqa: E402
PERFORMANCE_DOC = ROOT / "docs" / "performance.md"
SECTION = "## Newcomer: make setup, smoke and test on a fresh clone"
RECORDS_ENV = "NEWCOMER_RECORDS"

# Put on PYTHONPATH for the timed commands. Script jobs (python .snakemake/scripts/tmpXXX.NAME.py)
# get their imports timed; Snakemake processes only note when and where they ran, and for
# which test. Everything else passes through untouched. The sitecustomize it shadows, if any,
# is run afterwards.
SITECUSTOMIZE = textwrap.dedent('''\
    """bench/newcomer.py's recorder (see there); nothing here changes what a process does."""
    import os
    import sys
    import time

    def _newcomer_recorder():
        out = os.environ.get("NEWCOMER_RECORDS")
        argv = list(getattr(sys, "orig_argv", sys.argv))
        script = sys.argv[0] if sys.argv else ""
        is_job = "/.snakemake/scripts/" in script.replace(os.sep, "/")
        is_snakemake = any(os.path.basename(a) == "snakemake" for a in argv[:3]) or "snakemake" in argv[1:3]
        if not out or not (is_job or is_snakemake):
            return
        import atexit
        import builtins
        import importlib
        import json
        import threading

        record = {"kind": "job" if is_job else "snakemake", "pid": os.getpid(), "cwd": os.getcwd(),
                  "argv": argv[:40], "test": os.environ.get("PYTEST_CURRENT_TEST"), "site_time": time.time()}
        try:
            ticks = os.sysconf("SC_CLK_TCK")
            start_ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
            # The process's age on the boot clock its start is counted on (/proc/stat's btime is
            # whole seconds, too coarse here).
            age = time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / ticks
            record["process_start"] = record["site_time"] - age
        except (OSError, ValueError, IndexError, AttributeError):
            record["process_start"] = None
        spent = [0.0]
        local = threading.local()

        def timed(original):
            def wrapper(*args, **kwargs):
                if getattr(local, "depth", 0):
                    return original(*args, **kwargs)
                local.depth = 1
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    spent[0] += time.perf_counter() - started
                    local.depth = 0
            return wrapper

        if is_job:
            builtins.__import__ = timed(builtins.__import__)
            importlib.import_module = timed(importlib.import_module)

        def write():
            record["end_time"] = time.time()
            record["import_seconds"] = spent[0]
            main = sys.modules.get("__main__")
            job = getattr(main, "snakemake", None)
            if job is not None:
                record["rule"] = getattr(job, "rule", None)
                record["log"] = [str(p) for p in getattr(job, "log", [])]
            line = json.dumps(record) + "\\n"
            fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)

        atexit.register(write)

    _newcomer_recorder()
    del _newcomer_recorder

    def _shadowed_sitecustomize():
        import importlib.machinery
        import importlib.util
        here = os.path.dirname(os.path.abspath(__file__))
        rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
        if spec and spec.loader and spec.origin != os.path.abspath(__file__):
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)

    _shadowed_sitecustomize()
    del _shadowed_sitecustomize
''')


# ---------------------------------------------------------------------------
# The machine and the commands


def load1() -> float:
    return round(os.getloadavg()[0], 2)


@dataclass
class Timed:
    command: str
    seconds: float
    returncode: int
    output: Path
    load_before: float
    load_after: float
    load_samples: list[float] = field(default_factory=list)

    @property
    def load_mean(self) -> float:
        return round(statistics.fmean(self.load_samples), 2) if self.load_samples else self.load_before


def run_timed(command: list[str], cwd: Path, env: dict, output: Path) -> Timed:
    """Run `command` with its output to the file `output`, sampling the load every 15 s."""
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(15):
            samples.append(load1())

    before = load1()
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.monotonic()
    with open(output, "w") as sink:
        result = subprocess.run(command, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - start
    done.set()
    return Timed(" ".join(command), round(seconds, 1), result.returncode, output, before, load1(), samples)


def clone_head(destination: Path, revision: str = "HEAD") -> str:
    """Clone this repository into `destination` and check out `revision` (HEAD unless told);
    return the commit."""
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{revision}^{{commit}}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    if dirty and revision == "HEAD":
        print(f"note: the working tree has uncommitted changes; the clone has commit {commit[:12]} only")
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(destination)], check=True)
    subprocess.run(["git", "checkout", "--quiet", "--detach", commit], cwd=destination, check=True)
    return commit


# ---------------------------------------------------------------------------
# Reading a finished run: Snakemake's metadata, the benchmarks, the logs


@dataclass
class Job:
    rule: str
    outputs: list[str]
    logs: list[str]
    start: float
    end: float
    shell: bool
    benchmark: str | None = None
    benchmark_seconds: float | None = None
    to_log_open: float | None = None      # seconds from the job's start to its log file's creation
    startup: dict | None = None           # spawn, interpreter and import seconds (recorder)

    @property
    def seconds(self) -> float:
        """The job's time: its benchmark's wall seconds, else Snakemake's start to end."""
        return self.benchmark_seconds if self.benchmark_seconds is not None else self.end - self.start


def decode_record_name(relative: Path) -> str:
    """The output path a file of .snakemake/metadata stands for (urlsafe base64, long names
    split into folders whose names start with '@')."""
    parts = [part[1:] if part.startswith("@") else part for part in relative.parts]
    encoded = "".join(parts)
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()


def read_jobs(workdir: Path) -> list[Job]:
    """One Job per finished job of the run in `workdir`, from .snakemake/metadata."""
    folder = workdir / ".snakemake" / "metadata"
    if not folder.is_dir():
        raise SystemExit(f"{folder} does not exist: {workdir} holds no finished Snakemake run")
    records = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if record.get("incomplete") or record.get("starttime") is None or record.get("endtime") is None:
            continue
        records.append((float(record["starttime"]), decode_record_name(path.relative_to(folder)), record))
    # Each output of a job has its own record, with start and end noted microseconds apart.
    grouped: dict[tuple, list[Job]] = defaultdict(list)
    for start, output, record in sorted(records, key=lambda item: item[0]):
        key = (record["rule"], record.get("job_hash"), tuple(record.get("log") or ()))
        job = next((j for j in grouped[key] if abs(j.start - start) < 2), None)
        if job is None:
            job = Job(record["rule"], [], list(record.get("log") or []), start, float(record["endtime"]),
                      record.get("shellcmd") is not None)
            grouped[key].append(job)
        job.end = max(job.end, float(record["endtime"]))
        job.outputs.append(output)
    jobs = [job for its in grouped.values() for job in its]
    return sorted(jobs, key=lambda job: job.start)


def _components(path: str, drop_first: int) -> list[str]:
    parts = Path(path).with_suffix("").parts[drop_first:]
    return list(parts)


def _common_tail(a: list[str], b: list[str]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def attach_benchmarks(jobs: list[Job], workdir: Path) -> list[str]:
    """Give each benchmarks/**.tsv to its job; return the benchmark files no job took.

    Snakemake writes a job's benchmark when the job ends, so the file's time is the job's
    end. Of the jobs that ended within 10 s of it, the one whose outputs or logs share the
    most trailing path parts with it (benchmark paths mirror output paths) takes it. A job
    with many outputs may name its benchmark after their folder (the reranking job of a
    training run: benchmarks/rerank/{model}/{optim}/seed{seed}.tsv for
    results/runs/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.trec), so a path's parent
    folders count too, a full match before a folder's.
    """
    unmatched = []
    for path in sorted((workdir / "benchmarks").rglob("*.tsv")):
        relative = path.relative_to(workdir).as_posix()
        try:
            lines = path.read_text().splitlines()
            seconds = float(lines[1].split("\t")[0])
        except (OSError, IndexError, ValueError):
            unmatched.append(relative)
            continue
        mtime = path.stat().st_mtime
        mine = _components(relative, 1)
        best, best_key = None, None
        for job in jobs:
            if job.benchmark is not None or abs(job.end - mtime) > 10:
                continue
            tail, dropped = max(((_common_tail(mine, parts[:len(parts) - k]), -k)
                                 for parts in (_components(p, 1) for p in job.outputs + job.logs)
                                 for k in range(min(3, len(parts)))), default=(0, 0))
            key = (tail, dropped, -abs(job.end - mtime))
            if tail and (best_key is None or key > best_key):
                best, best_key = job, key
        if best is None:
            unmatched.append(relative)
        else:
            best.benchmark, best.benchmark_seconds = relative, seconds
    return unmatched


def birth_times(paths: list[Path]) -> dict[Path, float]:
    """Creation times of files (stat's %W: Linux statx; missing where the file system has none)."""
    found: dict[Path, float] = {}
    existing = [p for p in paths if p.is_file()]
    for start in range(0, len(existing), 200):
        chunk = existing[start:start + 200]
        done = subprocess.run(["stat", "--format=%.9W %n", "--", *map(str, chunk)], capture_output=True, text=True)
        for line in done.stdout.splitlines():
            stamp, _, name = line.partition(" ")
            try:
                value = float(stamp)
            except ValueError:
                continue
            if value > 0:
                found[Path(name)] = value
    return found


def attach_log_open_times(jobs: list[Job], workdir: Path) -> None:
    """to_log_open for each script job whose log file was created during the job."""
    logs = {job.logs[0]: job for job in jobs if job.logs and not job.shell}
    births = birth_times([workdir / name for name in logs])
    for name, job in logs.items():
        born = births.get(workdir / name)
        # A log older than the job was written by an earlier run (or the file system kept its birth).
        if born is not None and job.start - 1 <= born <= job.end + 1:
            job.to_log_open = max(born - job.start, 0.0)


def read_records(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def attach_startup(jobs: list[Job], records: list[dict], workdir: Path) -> None:
    """startup for each script job the recorder saw in `workdir` (joined by the job's log)."""
    by_log = {job.logs[0]: job for job in jobs if job.logs}
    for record in records:
        if record.get("kind") != "job" or Path(record["cwd"]).resolve() != workdir.resolve():
            continue
        job = by_log.get((record.get("log") or [None])[0])
        if job is None or record.get("process_start") is None:
            continue
        spawn = max(record["process_start"] - job.start, 0.0)
        interpreter = max(record["site_time"] - record["process_start"], 0.0)
        job.startup = {"spawn": spawn, "interpreter": interpreter, "imports": record["import_seconds"],
                       "total": spawn + interpreter + record["import_seconds"]}


# ---------------------------------------------------------------------------
# Which test runs which rule


SNAKEMAKE_LOG_NAME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{6}\.\d+)\.snakemake\.log$")
FINISHED = re.compile(r"Finished job(?:id)?:? \d+ \(Rule: ([\w-]+)\)")


def _workdir_of(record: dict) -> Path:
    argv = record.get("argv") or []
    for flag in ("--directory", "-d"):
        if flag in argv[:-1]:
            folder = Path(argv[argv.index(flag) + 1])
            return folder if folder.is_absolute() else Path(record["cwd"]) / folder
    return Path(record["cwd"])


def _finished_rules(record: dict) -> list[str]:
    """The rules whose jobs finished in the Snakemake process of `record`, from its log.

    A Snakemake log's name is its start in local time; the log belongs to the process that
    ran in its folder and was alive then. Only finished jobs count (a dry run finishes none).
    """
    rules: list[str] = []
    folder = _workdir_of(record) / ".snakemake" / "log"
    for log in folder.glob("*.snakemake.log"):
        match = SNAKEMAKE_LOG_NAME.search(log.name)
        if not match:
            continue
        started = dt.datetime.strptime(match.group(1), "%Y-%m-%dT%H%M%S.%f").timestamp()
        if not record["site_time"] - 2 <= started <= record.get("end_time", started) + 2:
            continue
        rules += FINISHED.findall(log.read_text(errors="replace"))
    return rules


def rules_run_by_tests(records: list[dict]) -> dict[str, set[str]]:
    """{rule: tests} from the Snakemake logs of the Snakemake processes that tests started."""
    runs: dict[str, set[str]] = defaultdict(set)
    for record in records:
        if record.get("kind") != "snakemake" or not record.get("test"):
            continue
        test = record["test"].rsplit(" (", 1)[0]
        for rule in _finished_rules(record):
            runs[rule].add(test)
    return runs


def rules_run_by_smoke(records: list[dict], clone: Path) -> set[str]:
    """The rules that `make smoke` ran in the clone (its own Snakemake process, started by no
    test), target rules such as `all` included, which leave no metadata."""
    return {rule for record in records
            if record.get("kind") == "snakemake" and not record.get("test")
            and _workdir_of(record).resolve() == clone.resolve()
            for rule in _finished_rules(record)}


def smoke_reused_by_tests(records: list[dict], clone: Path) -> str | None:
    """The test whose `snakemake -n` in the clone itself checked that `make smoke`'s run is up
    to date (tests/conftest.py, smoke_study), so that the tests read a copy of it; None if
    no test did. The rules of that run are then run for the tests too, by `make smoke`."""
    for record in records:
        if record.get("kind") != "snakemake" or not record.get("test"):
            continue
        argv = record.get("argv") or []
        # the fixture's check: a dry run of `all` on the smoke config, in the clone itself
        if (("-n" in argv or "--dry-run" in argv) and "all" in argv
                and any(a.endswith("config/smoke.yaml") for a in argv)
                and _workdir_of(record).resolve() == clone.resolve()):
            return record["test"].rsplit(" (", 1)[0]
    return None


def defined_rules(repository: Path) -> list[str]:
    """Every rule name in the Snakefile and rules/*.smk (conditionally defined ones included)."""
    names: list[str] = []
    for path in [repository / "Snakefile", *sorted((repository / "rules").glob("*.smk"))]:
        for match in re.finditer(r"^\s*(?:local)?rule\s+(\w+)\s*:", path.read_text(), re.MULTILINE):
            if match.group(1) not in names:
                names.append(match.group(1))
    return names


# ---------------------------------------------------------------------------
# The report


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def per_rule(jobs: list[Job]) -> list[dict]:
    """Jobs, total and mean seconds, share of all job time and fixed costs, per rule."""
    total = sum(job.seconds for job in jobs) or 1.0
    rows = []
    by_rule: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        by_rule[job.rule].append(job)
    for rule, its in sorted(by_rule.items(), key=lambda item: -sum(j.seconds for j in item[1])):
        seconds = sum(job.seconds for job in its)
        startups = [job.startup for job in its if job.startup]
        run_files = [sum(out.endswith(".trec") for out in job.outputs) for job in its]
        per_run_file = [job.startup["total"] / n for job, n in zip(its, run_files) if job.startup and n]
        rows.append({
            "rule": rule, "jobs": len(its), "benchmarked": sum(job.benchmark is not None for job in its),
            "total_s": round(seconds, 1), "mean_s": round(seconds / len(its), 2),
            "share": round(seconds / total, 4), "shell": all(job.shell for job in its),
            "to_log_open_s": _mean([job.to_log_open for job in its if job.to_log_open is not None]),
            "startup_s": _mean([s["total"] for s in startups]),
            "imports_s": _mean([s["imports"] for s in startups]),
            "interpreter_s": _mean([s["interpreter"] for s in startups]),
            "spawn_s": _mean([s["spawn"] for s in startups]),
            # TREC run files a job writes, and its start-up shared among them
            "run_files_per_job": _mean([float(n) for n in run_files]) if any(run_files) else None,
            "startup_per_run_file_s": _mean(per_run_file),
        })
    return rows


def analyze(workdir: Path, records: list[dict] | None = None) -> dict:
    """The per-job analysis of the finished run in `workdir`."""
    jobs = read_jobs(workdir)
    unmatched = attach_benchmarks(jobs, workdir)
    attach_log_open_times(jobs, workdir)
    attach_startup(jobs, records or [], workdir)
    script_jobs = [job for job in jobs if not job.shell]
    return {
        "workdir": str(workdir),
        "jobs": len(jobs),
        "job_seconds": round(sum(job.seconds for job in jobs), 1),
        "wall_seconds": round(max(j.end for j in jobs) - min(j.start for j in jobs), 1) if jobs else 0.0,
        "rules": per_rule(jobs),
        "unmatched_benchmarks": unmatched,
        "mean_to_log_open_s": _mean([job.to_log_open for job in script_jobs if job.to_log_open is not None]),
        "mean_startup_s": _mean([job.startup["total"] for job in script_jobs if job.startup]),
        "log_open_measured": sum(job.to_log_open is not None for job in script_jobs),
        "startup_measured": sum(job.startup is not None for job in script_jobs),
        "script_jobs": len(script_jobs),
    }


def _cell(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def format_rules(analysis: dict, tests: dict[str, set[str]] | None = None, rules: list[str] | None = None) -> str:
    lines = [f"{'rule':<26} {'jobs':>5} {'total s':>9} {'mean s':>8} {'share':>7} {'to log open':>12} "
             f"{'start-up':>9} {'imports':>8}"]
    for row in analysis["rules"]:
        log_open = "shell" if row["shell"] else _cell(row["to_log_open_s"])
        lines.append(f"{row['rule']:<26} {row['jobs']:>5} {row['total_s']:>9.1f} {row['mean_s']:>8.2f} "
                     f"{row['share']:>7.1%} {log_open:>12} {_cell(row['startup_s']):>9} {_cell(row['imports_s']):>8}")
    lines.append(f"{'all':<26} {analysis['jobs']:>5} {analysis['job_seconds']:>9.1f}")
    lines.append(f"fixed cost per script job: to log open {_cell(analysis['mean_to_log_open_s'])} s "
                 f"({analysis['log_open_measured']} of {analysis['script_jobs']} jobs measured), start-up "
                 f"{_cell(analysis['mean_startup_s'])} s ({analysis['startup_measured']} measured)")
    if analysis["unmatched_benchmarks"]:
        lines.append(f"benchmarks with no job in the metadata: {', '.join(analysis['unmatched_benchmarks'][:8])}")
    if tests is not None and rules is not None:
        lines.append("")
        lines.append("rules and the tests that run them (through Snakemake):")
        for rule in rules:
            names = sorted(tests.get(rule, ()))
            shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
            lines.append(f"  {rule:<26} {shown or 'NO TEST RUNS IT'}")
    return "\n".join(lines)


def rule_row(analysis: dict, rule: str) -> dict:
    return next((row for row in analysis["rules"] if row["rule"] == rule), {})


def _ratio(new, old) -> float | None:
    return round(new / old, 3) if new is not None and old else None


def compare_rerank(head: dict, baseline: dict) -> dict:
    """The reranking rule's fixed cost in this commit's smoke run against the baseline's: per
    job, and per run file written (a job of the baseline wrote one; a job now writes a whole
    training run's)."""
    new, old = rule_row(head, "rerank"), rule_row(baseline, "rerank")
    keys = ("jobs", "run_files_per_job", "startup_s", "startup_per_run_file_s", "total_s")

    def all_jobs(row: dict) -> float | None:
        return row["startup_s"] * row["jobs"] if row.get("startup_s") is not None else None

    return {
        "head": {k: new.get(k) for k in keys},
        "baseline": {k: old.get(k) for k in keys},
        "ratio_startup_per_job": _ratio(new.get("startup_s"), old.get("startup_s")),
        "ratio_startup_per_run_file": _ratio(new.get("startup_per_run_file_s"), old.get("startup_per_run_file_s")),
        "ratio_startup_all_jobs": _ratio(all_jobs(new), all_jobs(old)),
        "ratio_job_seconds": _ratio(new.get("total_s"), old.get("total_s")),
    }


def format_comparison(comparison: dict, head: str, baseline: str) -> str:
    rows = [("jobs", "jobs", 0), ("run files per job", "run_files_per_job", 1),
            ("start-up per job s", "startup_s", 2), ("start-up per run file s", "startup_per_run_file_s", 2),
            ("job seconds, all jobs", "total_s", 0)]
    lines = [f"rerank, {baseline[:10]} (baseline) -> {head[:10]} (this commit):"]
    for label, key, digits in rows:
        old, new = comparison["baseline"].get(key), comparison["head"].get(key)
        lines.append(f"  {label:<26} {_cell(old, digits):>9} {_cell(new, digits):>9}")
    lines.append(f"  ratios: start-up per job {_cell(comparison['ratio_startup_per_job'], 3)}, per run file "
                 f"{_cell(comparison['ratio_startup_per_run_file'], 3)}, all jobs' start-up "
                 f"{_cell(comparison['ratio_startup_all_jobs'], 3)}, job seconds {_cell(comparison['ratio_job_seconds'], 3)}")
    return "\n".join(lines)


def performance_row(report: dict) -> str:
    """One line of the table in docs/performance.md."""
    timed, smoke = report["timed"], report.get("smoke") or {}
    rerank = rule_row(smoke, "rerank") if smoke else {}

    def seconds(step: str) -> str:
        entry = timed.get(step)
        if not entry:
            return "not run"
        text = f"{entry['seconds']:.0f}"
        return text if entry["returncode"] == 0 else f"{text} (exit {entry['returncode']})"

    loads = [timed[s] for s in ("setup", "smoke", "test") if s in timed]
    during = "/".join(f"{t['load_mean']:.1f}" for t in loads)
    return (f"| {report['date']} | {report['commit'][:10]} | {report['machine']['cpu']} | {report['machine']['cores']} "
            f"| {report['load_before']:.2f} / {during} / {report['load_after']:.2f} "
            f"| {seconds('setup')} | {seconds('smoke')} | {seconds('test')} "
            f"| {smoke.get('jobs', '-')} | {_cell(smoke.get('mean_startup_s'))} | {_cell(rerank.get('startup_s'))} "
            f"| {_cell(rerank.get('to_log_open_s'))} | {report.get('tests_summary') or '-'} |")


TABLE_HEADER = """\
| date | commit | machine | cores | load 1 min: before / during setup, smoke, test / after | setup s | smoke s | test s | smoke jobs | start-up per script job s | rerank start-up s | rerank to log open s | tests |
|---|---|---|---|---|---|---|---|---|---|---|---|---|"""


def append_performance_row(doc: Path, row: str) -> None:
    """Append `row` to the newcomer table of `doc`, creating the section when it is missing."""
    text = doc.read_text() if doc.exists() else ""
    if SECTION not in text:
        intro = ("`python bench/newcomer.py` clones HEAD into a fresh folder with no ../shared and times\n"
                 "the README's commands there; the smoke study's per-rule table is in its JSON report.\n"
                 "Start-up = Snakemake's start of a job to its process, the interpreter and every import\n"
                 "its script makes; \"to log open\" = the job's start to its log file's creation.\n")
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{intro}\n{TABLE_HEADER}\n"
    head, _, tail = text.partition(SECTION)
    lines = tail.split("\n")
    # The section may hold other tables (per rule, before and after); the rows go into the
    # one whose header is TABLE_HEADER's.
    header = TABLE_HEADER.split("\n")[0]
    starts = [i for i, line in enumerate(lines) if line.strip() == header]
    if not starts:  # the heading without its table
        lines[1:1] = ["", *TABLE_HEADER.split("\n")]
        starts = [2]
    end = starts[0]
    while end + 1 < len(lines) and lines[end + 1].startswith("|"):
        end += 1
    lines.insert(end + 1, row)
    new = head + SECTION + "\n".join(lines)
    tmp = doc.with_name(f".{doc.name}.tmp")
    tmp.write_text(new if new.endswith("\n") else new + "\n")
    os.replace(tmp, doc)


# ---------------------------------------------------------------------------


def tests_summary_line(line: str) -> str | None:
    """pytest's closing counts without the time: "458 passed, 3 skipped" of "== 458 passed, 3 skipped in 912.3s ==")."""
    match = re.fullmatch(r"=*\s*((?:\d+ \w+(?:, )?)+?)\s+in [\d.]+s.*", line.strip())
    if match and re.search(r"\d+ (passed|failed)", match.group(1)):
        return match.group(1).rstrip(", ")
    return None


def tests_summary(output: Path) -> str | None:
    try:
        lines = output.read_text(errors="replace").splitlines()
    except OSError:
        return None
    return next((found for line in reversed(lines) if (found := tests_summary_line(line))), None)


def environment(work: Path, args: argparse.Namespace) -> dict:
    """The timed commands' environment: a newcomer's shell (no virtualenv on PATH, no PYTHONPATH
    of ours: the clone must import its own code), plus the recorder and pip's settings."""
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join(entry for entry in env.get("PATH", "").split(os.pathsep)
                                  if entry and not (Path(entry).parent / "pyvenv.cfg").is_file())
    if env.get("PYTHONPATH"):
        print(f"note: PYTHONPATH={env['PYTHONPATH']} is not passed on (the clone imports its own code)")
    site = work / "recorder"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env["PYTHONPATH"] = str(site)
    env[RECORDS_ENV] = str(work / "records.jsonl")
    # Test folders are kept, so that the Snakemake logs of the tests' runs can be read after.
    env["PYTEST_ADDOPTS"] = " ".join(filter(None, [env.get("PYTEST_ADDOPTS"), f"--basetemp={work / 'pytest'}"]))
    if args.pip_cache_dir:
        env["PIP_CACHE_DIR"] = str(Path(args.pip_cache_dir).expanduser())
    if args.find_links:
        env["PIP_FIND_LINKS"] = " ".join(args.find_links)
    return env


def pip_cache_size(env: dict) -> str:
    folder = Path(env.get("PIP_CACHE_DIR") or Path.home() / ".cache" / "pip")
    if not folder.is_dir():
        return f"{folder}: absent (cold)"
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return f"{folder}: {size / 1e6:.0f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--analyze-existing", metavar="PATH",
                        help="only read the finished smoke run in PATH (benchmarks/, logs/, .snakemake/metadata); "
                             "no clone, nothing run, nothing recorded")
    parser.add_argument("--dry-run", action="store_true", help="clone, print the commands and environment, stop")
    parser.add_argument("--skip-test", action="store_true", help="time make setup and make smoke only")
    parser.add_argument("--workdir", help="where to clone (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the clone and its pytest folders")
    parser.add_argument("--cores", type=int, help="CORES for make smoke (the Makefile's default otherwise)")
    parser.add_argument("--python", help="PYTHON for make setup, the interpreter .venv is made from")
    parser.add_argument("--pip-cache-dir", help="PIP_CACHE_DIR for make setup (pip's own default otherwise)")
    parser.add_argument("--find-links", action="append", default=[], help="PIP_FIND_LINKS for make setup")
    parser.add_argument("--warm-pip-cache", action="store_true",
                        help="first run make setup once, untimed, in a throwaway clone, so that the timed one finds "
                             "every package in pip's cache")
    parser.add_argument("--doc", default=str(PERFORMANCE_DOC), help="where to append the row")
    parser.add_argument("--no-record", action="store_true", help="do not append a row to --doc")
    parser.add_argument("--json", help="write the report here (default: <workdir>/newcomer.json)")
    parser.add_argument("--baseline", metavar="COMMIT",
                        help="first run make setup and make smoke in a clone of COMMIT too, the same way, and "
                             "compare the reranking rule's fixed cost (per job and per run file) with it")
    args = parser.parse_args(argv)

    if args.analyze_existing:
        folder = Path(args.analyze_existing).resolve()
        analysis = analyze(folder)
        print(f"finished run in {folder}: {analysis['jobs']} jobs, {analysis['job_seconds']:.0f} s of job time, "
              f"{analysis['wall_seconds']:.0f} s from the first job's start to the last one's end\n")
        print(format_rules(analysis))
        if args.json:
            Path(args.json).write_text(json.dumps(analysis, indent=2) + "\n")
        return 0

    work = Path(args.workdir).resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="newcomer-"))
    work.mkdir(parents=True, exist_ok=True)
    clone = work / "clone"
    if clone.exists():
        raise SystemExit(f"{clone} exists: give an empty --workdir")
    commit = clone_head(clone)
    env = environment(work, args)
    make_vars = [f"CORES={args.cores}"] if args.cores else []
    make_vars += [f"PYTHON={args.python}"] if args.python else []
    steps = [("setup", ["make", "setup", *make_vars]), ("smoke", ["make", "smoke", *make_vars])]
    if not args.skip_test:
        steps.append(("test", ["make", "test", *make_vars]))
    print(f"clone of {commit[:12]} in {clone} (no ../shared beside it: {not (clone.parent / 'shared').exists()})")
    print(f"pip cache: {pip_cache_size(env)}")
    if args.dry_run:
        for name, command in steps:
            print(f"would run in {clone}: {' '.join(command)}")
        print(f"with PYTHONPATH={env['PYTHONPATH']} {RECORDS_ENV}={env[RECORDS_ENV]} "
              f"PYTEST_ADDOPTS='{env['PYTEST_ADDOPTS']}'")
        if not args.keep:
            shutil.rmtree(work) if not args.workdir else shutil.rmtree(clone)
        return 0

    if args.warm_pip_cache:
        warm = work / "warm"
        clone_head(warm)
        print("warming pip's cache: make setup in a throwaway clone (untimed) ...", flush=True)
        with open(work / "warm.out", "w") as sink:
            subprocess.run(["make", "setup", *make_vars], cwd=warm, env=env, stdout=sink, stderr=subprocess.STDOUT)
        shutil.rmtree(warm)
        print(f"pip cache: {pip_cache_size(env)}")
    report: dict = {"date": dt.date.today().isoformat(), "commit": commit, "clone": str(clone),
                    "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "system": platform.platform()},
                    "pip_cache": pip_cache_size(env), "load_before": load1(), "timed": {}}
    if args.baseline:
        # The commit before a change, measured first in the same way on the same machine, so
        # that a ratio compares like with like (its records go to the same recorder file).
        base_clone = work / "baseline"
        base_commit = clone_head(base_clone, args.baseline)
        report["baseline"] = {"commit": base_commit, "clone": str(base_clone), "timed": {}}
        for name, command in steps[:2]:
            print(f"baseline {base_commit[:12]}: running {' '.join(command)} ...", flush=True)
            timed = run_timed(command, base_clone, env, work / f"baseline-{name}.out")
            report["baseline"]["timed"][name] = {"command": timed.command, "seconds": timed.seconds,
                                                 "returncode": timed.returncode, "load_mean": timed.load_mean}
            print(f"  {timed.seconds:.0f} s, exit {timed.returncode}, load {timed.load_before} -> {timed.load_after}")
            if timed.returncode != 0:
                print(timed.output.read_text(errors="replace")[-3000:])
                return 1
        report["baseline"]["smoke"] = analyze(base_clone, read_records(Path(env[RECORDS_ENV])))
        report["load_before"] = load1()
    for name, command in steps:
        print(f"running {' '.join(command)} ...", flush=True)
        timed = run_timed(command, clone, env, work / f"{name}.out")
        report["timed"][name] = {"command": timed.command, "seconds": timed.seconds, "returncode": timed.returncode,
                                 "load_before": timed.load_before, "load_after": timed.load_after,
                                 "load_mean": timed.load_mean, "output": str(timed.output)}
        print(f"  {timed.seconds:.0f} s, exit {timed.returncode}, load {timed.load_before} -> {timed.load_after}")
        if name == "smoke" and timed.returncode == 0:
            # Read before make test: the tests work on copies, but nothing should blur this run.
            report["smoke"] = analyze(clone, read_records(Path(env[RECORDS_ENV])))
        if timed.returncode != 0:
            print(timed.output.read_text(errors="replace")[-3000:])
            break
    report["load_after"] = load1()
    records = read_records(Path(env[RECORDS_ENV]))
    if "test" in report["timed"]:
        report["tests_summary"] = tests_summary(Path(report["timed"]["test"]["output"]))
        tests = rules_run_by_tests(records)
        rules = defined_rules(clone)
        checker = smoke_reused_by_tests(records, clone)
        if checker and report.get("smoke"):
            smoke_rules = {row["rule"] for row in report["smoke"]["rules"]} | rules_run_by_smoke(records, clone)
            for rule in smoke_rules:
                tests.setdefault(rule, set()).add(f"make smoke (reused after {checker} found it up to date)")
        report["rules_by_test"] = {rule: sorted(tests.get(rule, ())) for rule in rules}
    else:
        tests, rules = None, None
    if report.get("smoke"):
        print()
        print(format_rules(report["smoke"], tests, rules))
    if report.get("baseline") and report.get("smoke"):
        print()
        print(format_rules(report["baseline"]["smoke"]).replace("rule ", f"baseline {report['baseline']['commit'][:10]}: rule", 1))
        report["rerank_against_baseline"] = compare_rerank(report["smoke"], report["baseline"]["smoke"])
        print()
        print(format_comparison(report["rerank_against_baseline"], commit, report["baseline"]["commit"]))
    out = Path(args.json) if args.json else work / "newcomer.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nreport: {out}")
    if not args.no_record:
        append_performance_row(Path(args.doc), performance_row(report))
        print(f"row appended to {args.doc}")
    if not args.keep:
        shutil.rmtree(clone)
        shutil.rmtree(work / "pytest", ignore_errors=True)
        if report.get("baseline"):
            shutil.rmtree(report["baseline"]["clone"], ignore_errors=True)
    failed = [name for name, entry in report["timed"].items() if entry["returncode"] != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
