"""The epochs figure is drawn from the results rows: per-model panels of candidate minus
reference, one shared y-range symmetric around zero, labelled axes, no Type 3 fonts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import pytest

from crossopt import figures, paper

# Optimizer names that are neither Lion nor AdamW: the figure must take them from the rows.
TSV = """\
Base Model\tOptimizer\tEpoch\tNDCG@10\tMAP\tMRR@10\tRecall@10\tR-Prec\tP@10
BM25\t-\t-\t0.5058\t0.3013\t\t0.1500\t0.3200\t0.6000
Alpha\tRef\t1\t0.6000\t0.4000\t0.5000\t0.1600\t0.4000\t0.7000
Alpha\tRef\t2\t0.6300\t0.4100\t0.5100\t0.1700\t0.4100\t0.7100
Alpha\tRef\t3\t0.6400\t0.4150\t0.5120\t0.1710\t0.4150\t0.7150
Alpha\tCand\t1\t0.6100\t0.4099\t0.5000\t0.1600\t0.3800\t0.7000
Alpha\tCand\t2\t0.6300\t0.4000\t0.5150\t0.1700\t0.4100\t0.7200
Alpha\tCand\t3\t0.6000\t0.4050\t0.5300\t0.1650\t0.4200\t0.7050
Beta\tRef\t1\t0.5900\t0.3900\t0.4900\t0.1500\t0.3900\t0.6900
Beta\tRef\t2\t0.6000\t0.3950\t0.4950\t0.1550\t0.3950\t0.6950
Beta\tRef\t3\t0.6050\t0.3960\t0.4960\t0.1560\t0.3960\t0.6960
Beta\tCand\t1\t0.6200\t0.4200\t0.5200\t0.1800\t0.4200\t0.7200
Beta\tCand\t2\t0.5950\t0.3900\t0.4900\t0.1500\t0.3900\t0.6900
Beta\tCand\t3\t0.6550\t0.3960\t0.4960\t0.1560\t0.3960\t0.6960
Gamma\tRef\t1\t0.7000\t0.5000\t0.6000\t0.2000\t0.5000\t0.8000
Gamma\tRef\t2\t0.7000\t0.5000\t0.6000\t0.2000\t0.5000\t0.8000
Gamma\tRef\t3\t0.7000\t0.5000\t0.6000\t0.2000\t0.5000\t0.8000
Gamma\tCand\t1\t0.7010\t0.4990\t0.6000\t0.2000\t0.5000\t0.8000
Gamma\tCand\t2\t0.6990\t0.5000\t0.6000\t0.2000\t0.5000\t0.8000
Gamma\tCand\t3\t0.7000\t0.5005\t0.6000\t0.2000\t0.5000\t0.8000
"""
MODELS = ("Alpha", "Beta", "Gamma")


@pytest.fixture
def rows(tmp_path: Path):
    path = tmp_path / "table.tsv"
    path.write_text(TSV, encoding="utf-8")
    return paper.read_results(path)


def expected_differences(rows) -> dict:
    """(model, measure) -> {epoch: candidate - reference}, straight from the rows."""
    index = {(r.model, r.optimizer, r.epoch): r for r in rows if not r.is_baseline}
    return {(m, measure): {e: index[(m, "Cand", e)].values[measure]
                           - index[(m, "Ref", e)].values[measure] for e in (1, 2, 3)}
            for m in MODELS for measure in paper.MEASURES}


def measure_lines(ax) -> dict:
    """Label -> line of the data lines (the zero line's label starts with '_')."""
    return {line.get_label(): line for line in ax.get_lines()
            if not line.get_label().startswith("_")}


def test_epoch_figure_plots_candidate_minus_reference_from_the_rows(rows):
    data = figures.epoch_differences(rows, reference="Ref", candidate="Cand")
    assert data.models == MODELS and data.measures == paper.MEASURES
    fig = figures.draw_epoch_differences(data)
    try:
        panels = [ax for ax in fig.axes if ax.get_visible()]
        assert [ax.get_title() for ax in panels] == list(MODELS)
        expected = expected_differences(rows)
        for ax, model in zip(panels, MODELS):
            lines = measure_lines(ax)
            assert set(lines) == {paper.MEASURE_LABELS[m] for m in paper.MEASURES}
            for measure in paper.MEASURES:
                line = lines[paper.MEASURE_LABELS[measure]]
                assert list(line.get_xdata()) == [1, 2, 3]
                assert list(line.get_ydata()) == pytest.approx(
                    [expected[(model, measure)][e] for e in (1, 2, 3)], abs=1e-9)
            zero = [line for line in ax.get_lines() if line.get_label() == "_zero"]
            assert len(zero) == 1 and set(zero[0].get_ydata()) == {0.0}
            assert ax.get_xlabel() == "Epoch"
        assert panels[0].get_ylabel() == "Cand \N{MINUS SIGN} Ref"
        limits = {ax.get_ylim() for ax in panels}
        assert len(limits) == 1, "panels must share one y-range"
        low, high = limits.pop()
        assert low == pytest.approx(-high) and high > 0
        largest = max(abs(d) for per_epoch in expected.values() for d in per_epoch.values())
        assert largest == pytest.approx(0.05)  # Beta, nDCG@10, epoch 3
        assert high >= largest
        assert all(ax.get_yaxis().get_visible() for ax in panels)
    finally:
        plt.close(fig)


def test_epoch_figure_y_range_covers_every_interval(rows):
    intervals = {(m, e, measure): (d - 0.03, d + 0.08)
                 for (m, measure), per_epoch in expected_differences(rows).items()
                 for e, d in per_epoch.items()}
    data = figures.epoch_differences(rows, reference="Ref", candidate="Cand",
                                     intervals=intervals)
    fig = figures.draw_epoch_differences(data)
    try:
        low, high = fig.axes[0].get_ylim()
        assert low == pytest.approx(-high) and high >= 0.05 + 0.08
    finally:
        plt.close(fig)
    # A table of near ties still gets a y-range that holds its values.
    gamma = [r for r in rows if r.model in ("BM25", "Gamma")]
    tiny = figures.epoch_differences(gamma, reference="Ref", candidate="Cand")
    assert 0 < tiny.extent <= figures.symmetric_limit(tiny)
    del intervals[("Alpha", 2, "MAP")]
    with pytest.raises(ValueError, match="no interval"):
        figures.epoch_differences(rows, reference="Ref", candidate="Cand", intervals=intervals)


def test_difference_intervals_come_from_the_paired_tests():
    tests = {("Alpha", "Cand", 2, "MAP"): SimpleNamespace(ci_low=-0.02, ci_high=0.01)}
    assert figures.difference_intervals(tests) == {("Alpha", 2, "MAP"): (-0.02, 0.01)}


def test_epoch_figure_pdf_embeds_every_font_and_none_is_type3(rows, tmp_path):
    data = figures.epoch_differences(rows, reference="Ref", candidate="Cand")
    out = tmp_path / "epochs.pdf"
    figures.plot_epoch_differences(data, out)
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF") and b"/Type3" not in pdf and b"/FontFile2" in pdf
    if shutil.which("pdffonts") is None:
        pytest.skip("pdffonts (poppler-utils) is not installed")
    listing = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True,
                             check=True).stdout.splitlines()[2:]
    assert listing, "the figure has no fonts: text was not drawn as text"
    for line in listing:
        assert "Type 3" not in line, line
        # Columns: name, type (one or two words), encoding, emb, sub, uni, object ID.
        assert line.split()[-5] == "yes", f"font not embedded: {line}"


def test_epoch_figure_needs_both_optimizers(rows):
    with pytest.raises(ValueError, match="nothing to plot"):
        figures.epoch_differences(rows, reference="Ref", candidate="Other")
