"""crossopt.logs: every script's output and traceback reach its rule's log file."""

import ast
import os
import logging
from pathlib import Path

import pytest

from crossopt.logs import log_to

ROOT = Path(__file__).resolve().parent.parent


def test_output_logging_and_traceback_reach_the_log(tmp_path):
    log = tmp_path / "logs" / "rule.log"
    with pytest.raises(ZeroDivisionError):
        with log_to(log):
            print("started")
            logging.getLogger("crossopt.test").info("halfway")
            1 / 0
    text = log.read_text()
    assert "started" in text and "INFO crossopt.test: halfway" in text
    assert "Traceback" in text and "ZeroDivisionError" in text


def logs_through_log_to(source: str) -> bool:
    """Whether the script's `__main__` block runs inside `with log_to(snakemake.log[0])`."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            return any(isinstance(stmt, ast.With) and ast.unparse(stmt.items[0].context_expr)
                       == "log_to(snakemake.log[0])" for stmt in node.body)
    return False


def test_every_script_logs_through_log_to():
    assert not logs_through_log_to('if __name__ == "__main__":\n    main(snakemake.input[0])\n')
    scripts = sorted((ROOT / "scripts").glob("*.py"))
    assert len(scripts) > 20
    missing = [s.name for s in scripts if not logs_through_log_to(s.read_text(encoding="utf-8"))]
    assert not missing, f"scripts whose errors would miss their rule's log: {missing}"
    configured = [s.name for s in scripts if "basicConfig" in s.read_text(encoding="utf-8")]
    assert not configured


def test_a_job_stops_when_its_snakemake_process_is_killed(tmp_path):
    """SIGKILL of Snakemake leaves the shell between it and the job's script alive; the
    script (under log_to) must stop by itself instead of running on as an orphan."""
    import signal
    import subprocess
    import sys
    import time

    job = tmp_path / "job.py"
    job.write_text(
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})\n"
        "from crossopt import logs\n"
        "logs.WATCH_SECONDS = 0.2\n"
        f"open({str(tmp_path / 'pid')!r}, 'w').write(str(os.getpid()))\n"
        f"with logs.log_to({str(tmp_path / 'job.log')!r}):\n"
        "    time.sleep(120)\n")
    # Stands in for Snakemake: a process whose command line names snakemake, starting the job
    # through a shell, as Snakemake's local executor does.
    fake = tmp_path / "snakemake_stand_in.py"
    fake.write_text("import subprocess, sys, time\n"
                    f"subprocess.Popen(['/bin/bash', '-c', '{sys.executable} {job}; echo done'])\n"
                    "time.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, str(fake)])
    try:
        for _ in range(100):
            if (tmp_path / "pid").exists() and (tmp_path / "job.log").exists():
                break
            time.sleep(0.1)
        child = int((tmp_path / "pid").read_text())
        os.kill(child, 0)  # running
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        for _ in range(50):
            if not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split(")")[1][:3]:
                break
            time.sleep(0.1)
        else:
            os.kill(child, signal.SIGKILL)
            raise AssertionError("the job ran on after its Snakemake process was killed")
    finally:
        if parent.poll() is None:
            parent.kill()
