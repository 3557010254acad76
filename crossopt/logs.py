"""Send a Snakemake script's output to its log file, errors included; stop the script
when the Snakemake process that started it is gone."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

# Seconds between checks that the Snakemake process of a job is still there.
WATCH_SECONDS = 2.0


@contextlib.contextmanager
def log_to(path: str | Path):
    """Redirect stdout, stderr and logging to `path` for the duration of a rule's script.

    An exception is written to the log and then re-raised, so the rule fails
    (Snakemake removes its outputs) and the traceback also reaches the console.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    watch_snakemake()
    with open(path, "w", encoding="utf-8") as handle:
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            with contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
                yield
        except BaseException:
            handle.write(traceback.format_exc())
            raise
        finally:
            root.removeHandler(handler)


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of a process from /proc, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[19]


def snakemake_ancestor(levels: int = 6) -> tuple[int, str] | None:
    """(pid, start time) of the nearest ancestor process whose command line names snakemake
    (a job's script runs under a shell that Snakemake started), or None (not under Snakemake,
    or no /proc)."""
    pid = os.getppid()
    for _ in range(levels):
        if pid <= 1:
            return None
        stat = _stat(pid)
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        if stat is None:
            return None
        if b"snakemake" in cmdline:
            return pid, stat[1]
        pid = stat[0]
    return None


def watch_snakemake(interval: float = WATCH_SECONDS) -> threading.Thread | None:
    """Stop this process (SIGTERM) once the Snakemake process that started it has ended.

    Snakemake killed with SIGKILL cannot stop its jobs: the shell between it and the script
    lives on, and a training would go on for hours as an orphan, writing into a results/
    folder that a new Snakemake run may be using. Ctrl-C and SIGTERM reach the jobs anyway.
    """
    ancestor = snakemake_ancestor()
    if ancestor is None:
        return None
    pid, started = ancestor

    def watch() -> None:
        while True:
            time.sleep(interval)
            stat = _stat(pid)
            if stat is None or stat[1] != started:  # gone, or its pid now names another process
                print(f"the Snakemake process {pid} that started this job has ended: stopping the job",
                      file=sys.__stderr__, flush=True)
                os.kill(os.getpid(), signal.SIGTERM)
                return

    thread = threading.Thread(target=watch, name="watch-snakemake", daemon=True)
    thread.start()
    return thread
