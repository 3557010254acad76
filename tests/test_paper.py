"""The paper's generated parts: formatting, tables, sentences, figures, and the LaTeX build."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crossopt import figures, paper
from crossopt.config import run_settings

ROOT = Path(__file__).resolve().parents[1]
REPORTED = ROOT / "data" / "reported" / "table.tsv"

# The real study's config shape (config.yaml), trimmed to what the paper reads, plus
# the proposed `paper` section.
CONFIG = {
    "models": {
        "minilm": {"name": "MiniLM-L12-H384", "source": "hub",
                   "hub_id": "microsoft/MiniLM-L12-H384-uncased", "max_length": 512,
                   "learning_rate": 2.0e-5, "scheduler": "none"},
        "gte": {"name": "GTE-multilingual-base", "source": "hub",
                "hub_id": "Alibaba-NLP/gte-multilingual-base", "max_length": 512,
                "learning_rate": 2.0e-5, "scheduler": "none"},
        "modernbert": {"name": "ModernBERT-base", "source": "hub",
                       "hub_id": "answerdotai/ModernBERT-base", "max_length": 512,
                       "learning_rate": 2.0e-6, "scheduler": "cosine"},
    },
    "optimizers": {
        "adamw": {"name": "AdamW", "type": "adamw", "weight_decay": 0.01,
                  "betas": [0.9, 0.999], "eps": 1.0e-8},
        "lion": {"name": "Lion", "type": "lion", "weight_decay": 0.01, "betas": [0.9, 0.99],
                 "eps": 1.0e-8},
    },
    "overrides": {},
    "study": {"seeds": [12], "epochs": 3},
    "data": {"pairs": 2000000, "heldout": 10000},
    "training": {"backend": "local", "batch_size": 64, "warmup_ratio": 0.1, "bf16": True,
                 "use_cpu": False, "logging_steps": 4000, "dataloader_num_workers": 4,
                 "decay_bias_and_norm": True, "evaluator": {"type": "nanobeir"}},
    "testsets": {
        "dl19": {"name": "TREC DL 2019", "relevance_level": 2,
                 "retrieval": {"index": "msmarco-v1-passage", "k1": 0.9, "b": 0.4,
                               "depth": 1000}},
        "msmarco-dev-v11": {"name": "MS MARCO dev (v1.1 validation, given passages)",
                            "relevance_level": 1},
    },
    "table": {"columns": {
        "NDCG@10": {"testset": "dl19", "measure": "ndcg_cut_10"},
        "MAP": {"testset": "dl19", "measure": "map"},
        "MRR@10": {"testset": "msmarco-dev-v11", "measure": "recip_rank_10"},
        "Recall@10": {"testset": "dl19", "measure": "recall_10"},
        "R-Prec": {"testset": "dl19", "measure": "Rprec"},
        "P@10": {"testset": "dl19", "measure": "P_10"},
    }},
    "paper": {
        "results": "reported", "reported_table": str(REPORTED), "reported_relevance_level": 1,
        "authors": [{"name": "Author Name", "affiliation": "Affiliation",
                     "email": "author@example.org"}],
        "training_logs": None, "figure_model": "modernbert", "noise_threshold": 0.01,
        "toy": False,
    },
}


def runs_of(config: dict) -> dict:
    """Per-run settings exactly as the workflow derives them (overrides applied)."""
    return {m: {o: run_settings(config, m, o) for o in config["optimizers"]}
            for m in config["models"]}


# A computed-style table: BM25 row with an inapplicable measure left empty, a tie in
# nDCG@10 (0.6300 twice), a difference exactly at the threshold and one just below it.
COMPUTED_TSV = """\
Base Model\tOptimizer\tEpoch\tNDCG@10\tMAP\tMRR@10\tRecall@10\tR-Prec\tP@10
BM25\t-\t-\t0.5058\t0.3013\t\t0.1500\t0.3200\t0.6000
MiniLM-L12-H384\tAdamW\t1\t0.6000\t0.4000\t0.5000\t0.1600\t0.4000\t0.7000
MiniLM-L12-H384\tAdamW\t2\t0.6300\t0.4100\t0.5100\t0.1700\t0.4100\t0.7100
MiniLM-L12-H384\tLion\t1\t0.6100\t0.4099\t0.5000\t0.1600\t0.3800\t0.7000
MiniLM-L12-H384\tLion\t2\t0.6300\t0.4000\t0.5150\t0.1700\t0.4100\t0.7200
ModernBERT-base\tAdamW\t1\t0.5900\t0.3900\t0.4900\t0.1500\t0.3900\t0.6900
ModernBERT-base\tAdamW\t2\t0.6000\t0.3950\t0.4950\t0.1550\t0.3950\t0.6950
ModernBERT-base\tLion\t1\t0.6200\t0.4200\t0.5200\t0.1800\t0.4200\t0.7200
ModernBERT-base\tLion\t2\t0.5950\t0.3900\t0.4900\t0.1500\t0.3900\t0.6900
"""


@pytest.fixture
def computed_table(tmp_path: Path) -> Path:
    path = tmp_path / "table.tsv"
    path.write_text(COMPUTED_TSV, encoding="utf-8")
    return path


def reported_rows():
    return paper.read_results(REPORTED)


# --------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(("value", "kwargs", "expected"), [
    (0.70081, {}, "0.7008"),
    (0.5, {}, "0.5000"),
    (None, {}, "--"),
    (float("nan"), {}, "--"),
    (0.0092, {"signed": True}, "+0.0092"),
    (-0.0092, {"signed": True}, "$-$0.0092"),
    (-0.0092, {}, "$-$0.0092"),
    (-0.00004, {"signed": True}, "0.0000"),
    (0.0, {"signed": True}, "0.0000"),
    (12.3456, {"digits": 2}, "12.35"),
    (2000000, {"style": "int"}, "2{,}000{,}000"),
    (64, {"style": "int"}, "64"),
    (2e-5, {"style": "sci"}, r"\ensuremath{2\times 10^{-5}}"),
    (2e-6, {"style": "sci"}, r"\ensuremath{2\times 10^{-6}}"),
    (1e-8, {"style": "sci"}, r"\ensuremath{10^{-8}}"),
    (2.5e-4, {"style": "sci"}, r"\ensuremath{2.5\times 10^{-4}}"),
    (0.999, {"style": "auto"}, "0.999"),
    (0.1, {"style": "auto"}, "0.1"),
    (64, {"style": "auto"}, "64"),
    (1e-8, {"style": "auto"}, r"\ensuremath{10^{-8}}"),
    (3, {"style": "word"}, "three"),
    (12, {"style": "word"}, "12"),
])
def test_format_number(value, kwargs, expected):
    assert paper.format_number(value, **kwargs) == expected


def test_format_number_rejects_unknown_style_and_fractional_int():
    with pytest.raises(ValueError, match="unknown style"):
        paper.format_number(1.0, style="roman")
    with pytest.raises(ValueError, match="not an integer"):
        paper.format_number(1.5, style="int")


def test_latex_escape():
    assert paper.latex_escape("a_b & 50% #1") == r"a\_b \& 50\% \#1"


# --------------------------------------------------------------------------- macros


def test_macro_names_are_letters_only():
    assert paper.macro_name("Res", "ModernBERT-base", "Lion", "Epoch", 2, "NDCG@10") == \
        "ResModernBERTBaseLionEpochTwoNDCGAtTen"
    assert paper.macro_name("Model", "minilm", "Lr") == "ModelMinilmLr"
    assert paper.macro_name("Seed", 42) == "SeedFourTwo"
    with pytest.raises(ValueError):
        paper.macro_name("-", "/")


def test_render_macros_rejects_non_letter_names_and_sets_switches():
    with pytest.raises(ValueError, match="letters only"):
        paper.render_macros({"Value1": "x"})
    text = paper.render_macros({"Value": "x"}, {"toyresults": True, "baselinerow": False})
    assert r"\toyresultstrue" in text and r"\baselinerowfalse" in text
    assert r"\newcommand{\Value}{x}" in text


def all_macros(config, rows):
    macros = paper.config_macros(config, runs_of(config))
    macros.update(paper.result_macros(rows, reference="AdamW", candidate="Lion",
                                      threshold=config["paper"]["noise_threshold"]))
    return macros


def test_every_generated_macro_name_is_letters_only():
    macros = all_macros(CONFIG, reported_rows())
    assert macros and all(re.fullmatch(r"[A-Za-z]+", name) for name in macros)
    assert macros["ResModernBERTBaseLionEpochTwoNDCGAtTen"] == "0.7225"
    assert macros["NumPairs"] == "2{,}000{,}000"
    assert macros["ModelModernbertLr"] == r"\ensuremath{2\times 10^{-6}}"
    assert macros["OptLionBetaTwo"] == "0.99"


def test_relevance_level_follows_the_source_of_the_results():
    reported = paper.protocol_facts(CONFIG)
    computed = paper.protocol_facts({**CONFIG, "paper": {**CONFIG["paper"], "results": "computed"}})
    assert reported["relevance_level"] == 1  # the researcher's trec_eval default
    assert computed["relevance_level"] == 2  # what the workflow's config says
    assert "default" in paper.relevance_level_note(1)
    assert "matches the official" in paper.relevance_level_note(2)


def test_missing_config_key_names_the_key():
    broken = copy.deepcopy(CONFIG)
    del broken["data"]["pairs"]
    with pytest.raises(KeyError, match="pairs"):
        paper.config_macros(broken, runs_of(CONFIG))


def test_switches():
    flags = paper.switches(CONFIG, runs_of(CONFIG), reported_rows())
    assert flags == {"toyresults": False, "baselinerow": False, "computedresults": False,
                     "sharedsettings": True, "decayall": True, "bfsixteen": True,
                     "modal": True, "nanobeir": True}
    tuned = copy.deepcopy(CONFIG)
    tuned["overrides"] = {"minilm": {"lion": {"learning_rate": 5.0e-6}}}
    assert not paper.shared_settings(runs_of(tuned))
    computed = {**CONFIG, "paper": {**CONFIG["paper"], "results": "computed"}}
    assert not paper.switches(computed, runs_of(CONFIG), reported_rows())["modal"]


# --------------------------------------------------------------------------- reading


def test_read_results_accepts_baseline_with_empty_cells(computed_table):
    rows = paper.read_results(computed_table)
    base = paper.baseline(rows)
    assert base is not None and base.epoch is None and base.values["MRR@10"] is None
    assert len(paper.rerankers(rows)) == 8


@pytest.mark.parametrize(("text", "message"), [
    ("Model\tOptimizer\n", r":1: header"),
    (COMPUTED_TSV.replace("0.6000\t0.4000", "0.6000\tabc", 1), r":3: MAP is not a number"),
    (COMPUTED_TSV.replace("0.6000\t0.4000", "0.6000\t", 1), r":3: MAP is not a number"),
    (COMPUTED_TSV + COMPUTED_TSV.splitlines()[2] + "\n", r":11: duplicate row"),
    (COMPUTED_TSV.replace("AdamW\t1", "AdamW\tone", 1), r":3: Epoch is not an integer"),
])
def test_read_results_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(str(path)) + message):
        paper.read_results(path)


# --------------------------------------------------------------------------- tables


def bold_cells(tex: str) -> list[str]:
    return re.findall(r"\\textbf\{([^}]*)\}", tex)


def test_results_table_bolds_every_tie_of_the_column_best():
    rows = reported_rows()
    tex = paper.results_table(rows, ranking_name="TREC DL 2019")
    bold = bold_cells(tex)
    # Recall@10 0.1733 (GTE AdamW epochs 1 and 2) and MRR@10 0.5988 (MiniLM and
    # ModernBERT Lion epoch 3) are ties; the brief bolded only one of the former.
    assert bold.count("0.1733") == 2
    assert bold.count("0.5988") == 2
    expected = []
    for measure in paper.MEASURES:
        top = max(r.values[measure] for r in rows)
        expected += [f"{top:.4f}"] * sum(r.values[measure] == top for r in rows)
    assert sorted(bold) == sorted(expected)


def test_results_table_groups_by_model_then_optimizer(computed_table):
    tex = paper.results_table(paper.read_results(computed_table), ranking_name="DL")
    lines = tex.splitlines()
    headers = [line for line in lines if r"\emph{" in line]
    assert [h.split("emph{")[1].split("}")[0] for h in headers] == \
        ["MiniLM-L12-H384", "ModernBERT-base"]
    assert sum(line.startswith("AdamW &") for line in lines) == 2  # once per model
    assert any(line.startswith("BM25 & --") and "--" in line.split("&")[-1] for line in lines)
    assert "\\textbf{0.6300}" in tex and tex.count("\\textbf{0.6300}") == 2  # nDCG tie
    assert r"\multicolumn{5}{c}{DL}" in tex  # ranking measures grouped under their test set


def test_difference_table_bolds_only_differences_at_or_above_threshold(computed_table):
    tex = paper.difference_table(paper.read_results(computed_table), reference="AdamW",
                                 candidate="Lion", threshold=0.01)
    bold = bold_cells(tex)
    # MiniLM epoch 1: nDCG +0.0100 (exactly the threshold) is a lead, MAP +0.0099 is not.
    assert "+0.0100" in bold
    assert "+0.0099" in tex and "+0.0099" not in bold
    assert "$-$0.0200" in bold  # R-Prec, AdamW ahead
    for cell in re.findall(r"[+]?(?:\$-\$)?\d\.\d{4}", tex):
        value = float(cell.replace("$-$", "-"))
        assert (cell in bold) == (abs(value) >= 0.01 - 1e-9), cell


def test_hyperparameter_and_model_tables_come_from_config():
    hyper = paper.hyperparameter_table(CONFIG)
    for text in ("Batch size & 64", "2{,}000{,}000", "Warm-up ratio & 0.1", "bf16",
                 "Seed & 12", "(0.9, 0.999)", "(0.9, 0.99)", r"\ensuremath{10^{-8}}"):
        assert text in hyper
    assert hyper.count(r"$\epsilon$") == 1  # AdamW only: Lion has no epsilon
    models = paper.models_table(CONFIG, runs_of(CONFIG))
    assert r"\texttt{microsoft/MiniLM-L12-H384-uncased}" in models
    assert "cosine annealing" in models and "constant" in models
    assert "with Lion" not in models  # no overrides: one row per model
    tuned = copy.deepcopy(CONFIG)
    tuned["models"]["minilm"]["source"] = "tiny"
    tuned["overrides"] = {"minilm": {"lion": {"learning_rate": 1.0e-4, "weight_decay": 0.1}}}
    models = paper.models_table(tuned, runs_of(tuned))
    assert "built locally" in models
    assert r"\quad with Lion & & \ensuremath{10^{-4}} & constant, $\lambda$ 0.1" in models


def test_authors_block_escapes_config_strings():
    block = paper.authors_block([{"name": "A_B", "affiliation": "R&D", "email": "a_b@x.org"},
                                 {"name": "C", "affiliation": "D"}])
    assert r"\IEEEauthorblockN{A\_B}" in block and r"R\&D" in block and r"\and" in block
    with pytest.raises(ValueError):
        paper.authors_block([])


# --------------------------------------------------------------------------- sentences


def test_verdict_never_calls_a_sub_threshold_difference_a_lead():
    assert paper.verdict(0.0099, 0.01) == "tie"
    assert paper.verdict(-0.0099, 0.01) == "tie"
    assert paper.verdict(0.01, 0.01) == "candidate"
    assert paper.verdict(-0.01, 0.01) == "reference"
    # Float noise from subtraction must not flip a threshold decision.
    assert paper.verdict(round(0.6100 - 0.6000, 6), 0.01) == "candidate"


def independent_counts(rows, threshold):
    """Recount leads straight from the rows, without the module's helpers."""
    index = {(r.model, r.optimizer, r.epoch): r.values for r in rows if not r.is_baseline}
    counts = {"Lion": 0, "AdamW": 0, "tie": 0}
    for (model, optimizer, epoch), values in index.items():
        if optimizer != "Lion":
            continue
        for measure in paper.MEASURES:
            delta = values[measure] - index[(model, "AdamW", epoch)][measure]
            key = "tie" if abs(delta) < threshold - 1e-9 else ("Lion" if delta > 0 else "AdamW")
            counts[key] += 1
    return counts


@pytest.mark.parametrize("source", ["reported", "computed"])
def test_summary_sentence_matches_an_independent_count(source, computed_table):
    rows = reported_rows() if source == "reported" else paper.read_results(computed_table)
    counts = independent_counts(rows, 0.01)
    sentence = paper.summary_sentence(rows, reference="AdamW", candidate="Lion", threshold=0.01)
    n = sum(counts.values())
    assert sentence == (f"Of {n} matched comparisons (same model, epoch and measure), Lion is "
                        f"ahead by at least 0.01 in {counts['Lion']}, AdamW in "
                        f"{counts['AdamW']}, and {counts['tie']} differ by less than 0.01")


def test_comparison_text_for_computed_fixture(computed_table):
    text = paper.comparison_text(paper.read_results(computed_table), reference="AdamW",
                                 candidate="Lion", threshold=0.01)
    # Best nDCG@10 is a tie: both systems are named.
    assert ("nDCG@10 (0.6300) by MiniLM-L12-H384 with AdamW at epoch 2 and "
            "MiniLM-L12-H384 with Lion at epoch 2") in text
    assert "The BM25 candidate ranking scores 0.5058 nDCG@10; 8 of the 8 reranked runs" in text
    # MiniLM: best epochs tie at 0.6300, so no lead may be claimed.
    assert ("Lion reaches 0.6300 (epoch 2) and AdamW 0.6300 (epoch 2), a difference below "
            "the threshold of 0.01") in text
    # ModernBERT: Lion's best 0.6200 vs AdamW's best 0.6000 is a lead of 0.0200.
    assert "Lion reaches 0.6200 (epoch 1) and AdamW 0.6000 (epoch 2), Lion ahead by 0.0200" in text
    assert "The largest lead of Lion is on nDCG@10 at epoch 1 (0.0300)" in text
    # The word "improve" is never used for a comparison.
    assert "improve" not in text


def test_comparison_text_on_reported_data_states_true_facts():
    rows = reported_rows()
    text = paper.comparison_text(rows, reference="AdamW", candidate="Lion", threshold=0.01)
    assert "nDCG@10 (0.7225) by ModernBERT-base with Lion at epoch 2" in text
    assert ("MRR@10 (0.5988) by MiniLM-L12-H384 with Lion at epoch 3 and ModernBERT-base "
            "with Lion at epoch 3") in text
    assert "BM25" not in text  # no baseline row in the reported table
    # Epoch spread and median difference recomputed independently.
    ndcg = {(r.model, r.optimizer, r.epoch): r.values["NDCG@10"] for r in rows}
    spreads = {}
    for (model, optimizer, _), value in ndcg.items():
        spreads.setdefault((model, optimizer), []).append(value)
    spread = max(max(v) - min(v) for v in spreads.values())
    median = statistics.median(abs(ndcg[(m, "Lion", e)] - ndcg[(m, "AdamW", e)])
                               for (m, o, e) in ndcg if o == "Lion")
    assert f"moves by up to {spread:.4f} between epochs" in text
    assert f"at matched epochs is {median:.4f}" in text


def test_verdict_macros_follow_the_counts():
    assert "no consistent advantage" in paper.overall_verdict(
        {"candidate": 1, "reference": 1, "tie": 5}, reference="AdamW", candidate="Lion",
        threshold=0.01)
    assert "mostly favour Lion" in paper.overall_verdict(
        {"candidate": 8, "reference": 2, "tie": 14}, reference="AdamW", candidate="Lion",
        threshold=0.01)
    assert "Lion leads more often" in paper.overall_verdict(
        {"candidate": 6, "reference": 1, "tie": 2}, reference="AdamW", candidate="Lion",
        threshold=0.01)
    assert "AdamW leads more often" in paper.overall_verdict(
        {"candidate": 1, "reference": 6, "tie": 2}, reference="AdamW", candidate="Lion",
        threshold=0.01)
    assert "go both ways" in paper.overall_verdict(
        {"candidate": 3, "reference": 4, "tie": 2}, reference="AdamW", candidate="Lion",
        threshold=0.01)


# --------------------------------------------------------------------------- hand-typed numbers

# A decimal that is not a length (0.96\columnwidth, 2.5pt) and not a version (v1.1).
_DECIMAL = re.compile(r"(?<![\w.])\d*\.\d+(?!\d|\.|\s*(?:\\columnwidth|\\linewidth|\\textwidth|"
                      r"pt|em|ex|cm|mm|in)\b)")


def test_tex_sources_contain_no_hand_typed_result_numbers():
    """Every result number must come from a generated macro or table, never the sources."""
    offenders = []
    for path in sorted((ROOT / "paper").rglob("*.tex")):
        if "build" in path.relative_to(ROOT / "paper").parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = re.sub(r"(?<!\\)%.*", "", line)  # comments are not typeset
            for match in _DECIMAL.finditer(code):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)}")
    assert not offenders, "hand-typed decimals in LaTeX sources:\n" + "\n".join(offenders)


def test_decimal_scan_catches_what_it_should():
    assert _DECIMAL.search("nDCG@10 of 0.7225 for Lion")
    assert _DECIMAL.search("a gain of .02")
    assert not _DECIMAL.search(r"\parbox{0.96\columnwidth}{x}")
    assert not _DECIMAL.search("MS~MARCO v1.1 validation")


# --------------------------------------------------------------------------- references


def test_every_reference_is_cited_and_there_are_at_least_twenty():
    bib = (ROOT / "paper" / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"^@\w+\{([^,]+),", bib, re.M))
    cited = set()
    for path in (ROOT / "paper").rglob("*.tex"):
        for group in re.findall(r"\\cite\{([^}]*)\}", path.read_text(encoding="utf-8")):
            cited.update(k.strip() for k in group.split(","))
    assert len(keys) >= 20
    assert keys - cited == set(), "references never cited"
    assert cited - keys == set(), "citations without a reference"


# --------------------------------------------------------------------------- figures


def write_trainer_state(path: Path, *, final_loss: float, lr: float) -> Path:
    """A small trainer_state.json shaped like the Hugging Face trainer's."""
    history = []
    for step in range(1, 31):
        epoch = step / 10
        loss = 0.7 - step * (0.7 - final_loss) / 30
        history.append({"epoch": epoch, "step": step * 100, "loss": loss,
                        "grad_norm": 5.0 / step, "learning_rate": lr * (1 - step / 31)})
        if step % 10 == 0:
            history.append({"epoch": epoch, "step": step * 100, "eval_loss": 0.6 - step / 100})
    history.append({"epoch": 3.0, "step": 3000, "train_loss": 0.5, "train_runtime": 1.0})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"log_history": history}), encoding="utf-8")
    return path


def test_read_trainer_state_splits_train_and_eval_entries(tmp_path):
    hist = figures.read_trainer_state(write_trainer_state(tmp_path / "s.json", final_loss=0.2,
                                                          lr=2e-6))
    assert len(hist.loss) == 30 and len(hist.eval_loss) == 3
    assert hist.loss[-1] == pytest.approx(0.2)
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json"):
        figures.read_trainer_state(tmp_path / "bad.json")


def test_training_figure_is_a_truetype_pdf_and_summary_states_end_points(tmp_path):
    logs = {"AdamW": write_trainer_state(tmp_path / "a.json", final_loss=0.25, lr=2e-6),
            "Lion": write_trainer_state(tmp_path / "l.json", final_loss=0.3, lr=2e-6)}
    histories = {name: figures.read_trainer_state(p) for name, p in logs.items()}
    out = tmp_path / "curves.pdf"
    figures.plot_training_curves(histories, out)
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and b"/FontFile2" in data and b"/Type3" not in data
    summary = figures.training_summary(histories, "ModernBERT-base")
    assert "0.2500 for AdamW, 0.3000 for Lion" in summary


def test_epoch_figure(tmp_path, computed_table):
    out = tmp_path / "epochs.pdf"
    figures.plot_epoch_curves(paper.read_results(computed_table), ("NDCG@10", "MRR@10"), out)
    assert out.read_bytes().startswith(b"%PDF")


# --------------------------------------------------------------------------- LaTeX log


def test_latex_problems_reads_undefined_refs_and_overfull_boxes():
    log = "\n".join([
        "LaTeX Warning: Reference `fig:x' on page 2 undefined on input line 5.",
        "LaTeX Warning: Citation `foo' on page 1 undefined on input line 9.",
        "Overfull \\hbox (0.5pt too wide) in paragraph at lines 1--2",
        "Overfull \\hbox (12.3pt too wide) in paragraph at lines 3--4",
        "LaTeX Warning: There were undefined references.",
    ])
    problems = paper.latex_problems(log)
    assert any("fig:x" in p for p in problems) and any("foo" in p for p in problems)
    assert any("12.3pt" in p for p in problems) and not any("0.5pt" in p for p in problems)
    assert paper.latex_problems("Underfull \\hbox (badness 10000)") == []


# --------------------------------------------------------------------------- the build

needs_latex = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("latexmk", "pdftotext", "pdfinfo")),
    reason="latexmk, pdftotext or pdfinfo not installed (TeX Live, poppler-utils)")

TEST_SNAKEFILE = f"""\
# What rules/common.smk provides to the paper rules (it also validates the whole
# config against the schema, which the paper tests do not need).
from crossopt.config import run_settings

configfile: "config.yaml"

include: "{ROOT / 'rules' / 'paper.smk'}"

rule paper:
    input: "paper/build/main.pdf"
"""


def run_paper_workflow(workdir: Path, config: dict) -> Path:
    """Build the paper with the real rules in a scratch working directory."""
    shutil.copytree(ROOT / "paper", workdir / "paper", ignore=shutil.ignore_patterns("build"))
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    (workdir / "Snakefile").write_text(TEST_SNAKEFILE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "paper", "--cores", "1",
                           "--snakefile", "Snakefile"], cwd=workdir, env=env,
                          capture_output=True, text=True)
    logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}"
                     for p in sorted((workdir / "logs").rglob("*.log"))) \
        if (workdir / "logs").exists() else ""
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:] + logs
    return workdir / "paper" / "build" / "main.pdf"


def pdf_text(pdf: Path, *pages: int) -> str:
    """Text of the PDF (or of some pages), whitespace collapsed so phrases survive wrapping."""
    args = ["pdftotext"]
    if pages:
        args += ["-f", str(pages[0]), "-l", str(pages[-1])]
    text = subprocess.run(args + [str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return " ".join(text.split())


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))


def assert_clean_build(pdf: Path) -> str:
    assert pdf.exists()
    log = (pdf.parent / "main.log").read_text(encoding="utf-8", errors="replace")
    assert paper.latex_problems(log) == []
    text = pdf_text(pdf)
    assert "??" not in text
    return text


@needs_latex
@pytest.mark.parametrize("supplied_logs", [False, True])
def test_paper_builds_from_reported_table(tmp_path, supplied_logs):
    config = copy.deepcopy(CONFIG)
    if supplied_logs:  # the researcher's own logs, at the documented path
        config["paper"]["training_logs"] = "logs-from-researcher"
        for optim in ("adamw", "lion"):
            path = tmp_path / "logs-from-researcher" / "modernbert" / optim / "trainer_state.json"
            write_trainer_state(path, final_loss=0.25, lr=2e-6)
    pdf = run_paper_workflow(tmp_path, config)
    text = assert_clean_build(pdf)
    assert 6 <= page_count(pdf) <= 9  # 6-8 pages of main text plus references
    assert "Toy results" not in text
    # Without logs the figure and every mention of it are left out cleanly.
    assert ("Training dynamics" in text) == supplied_logs
    assert ("Fig. 3" in text) == supplied_logs
    assert "0.7225" in text  # generated numbers reach the PDF


@needs_latex
def test_toy_paper_builds_from_computed_table_with_training_logs(tmp_path):
    config = copy.deepcopy(CONFIG)
    config["paper"].update(results="computed", toy=True)
    results = tmp_path / "results"
    results.mkdir()
    (results / "table.tsv").write_text(COMPUTED_TSV, encoding="utf-8")
    for optim, loss in (("adamw", 0.25), ("lion", 0.3)):
        path = results / "models" / "modernbert" / optim / "seed12" / "trainer_state.json"
        write_trainer_state(path, final_loss=loss, lr=2e-6)
    pdf = run_paper_workflow(tmp_path, config)
    assert_clean_build(pdf)
    first_page = pdf_text(pdf, 1)
    assert "Toy results" in first_page and "smoke configuration" in first_page
    text = pdf_text(pdf)
    assert "Training dynamics" in text and "0.2500 for AdamW" in text
    assert "BM25" in text and "0.5058" in text
