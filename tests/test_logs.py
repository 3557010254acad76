"""crossopt.logs: every script's output and traceback reach its rule's log file."""

import ast
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
