"""`snakemake --report`: a self-contained HTML summary of the finished smoke study."""

import base64

import pytest

from conftest import run_snakemake

pytestmark = pytest.mark.slow

SHOWN = ["results/table.tsv", "results/stats/significance.tsv", "results/stats/means.tsv",
         "results/figures/epochs.pdf", "results/figures/training_curves.pdf"]


def test_report_holds_the_table_the_tests_and_the_figures(smoke_study, tmp_path):
    html_path = tmp_path / "report.html"
    run_snakemake(smoke_study, "--report", str(html_path), "all")
    html = html_path.read_text(encoding="utf-8")
    assert "Lion vs AdamW for cross-encoder rerankers" in html  # report/workflow.rst
    for path in SHOWN:
        assert f'"{path}": {{' in html, path
        # Embedded byte for byte, so the report is readable without the results folder.
        assert base64.b64encode((smoke_study / path).read_bytes()).decode() in html, path
