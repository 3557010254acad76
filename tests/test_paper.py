"""The paper's generated parts: formatting, tables, sentences, figures, and the LaTeX build."""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crossopt import figures, paper, paper_analysis
from crossopt.config import run_settings

ROOT = Path(__file__).resolve().parents[1]
# A realistic 18-row table without a BM25 row for the unit tests of the table code: the
# brief's table as transcribed (the paper itself never reads it as results).
REPORTED = ROOT / "data" / "brief" / "table.tsv"
RESEARCHER_FILES = ROOT / "data" / "researcher-eval"  # the researcher's files, copied (data/researcher-eval/README.md)

# The real study's config shape (config.yaml), trimmed to what the paper reads, plus
# the proposed `paper` section.
CONFIG = {
    "models": {
        "minilm": {"name": "MiniLM-L12-H384", "source": "hub",
                   "hub_id": "microsoft/MiniLM-L12-H384-uncased", "max_length": 512, "trust_remote_code": False,
                   "learning_rate": 2.0e-5, "scheduler": "trainer_default"},
        "gte": {"name": "GTE-multilingual-base", "source": "hub",
                "hub_id": "Alibaba-NLP/gte-multilingual-base", "max_length": 512, "trust_remote_code": False,
                "learning_rate": 2.0e-5, "scheduler": "trainer_default"},
        "modernbert": {"name": "ModernBERT-base", "source": "hub",
                       "hub_id": "answerdotai/ModernBERT-base", "max_length": 512, "trust_remote_code": False,
                       "learning_rate": 2.0e-6, "scheduler": "constant"},
    },
    "optimizers": {
        "adamw": {"name": "AdamW", "type": "adamw", "weight_decay": 0.01,
                  "betas": [0.9, 0.999], "eps": 1.0e-8, "implementation": "reference"},
        "lion": {"name": "Lion", "type": "lion", "weight_decay": 0.01, "betas": [0.9, 0.99],
                 "eps": 1.0e-8, "implementation": "reference"},
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
        "results": "reported", "reported_eval": str(RESEARCHER_FILES),
        "brief_table": str(REPORTED), "reported_relevance_level": 1,
        "authors": [{"name": "Ada Example", "affiliation": "Example Institute",
                     "email": "ada@example.org"}],
        "repository_url": "https://example.org/crossopt", "reported_origin": None,
        "training_logs": None, "figure_model": "modernbert",
        "toy": False,
    },
}


def runs_of(config: dict) -> dict:
    """Per-run settings exactly as the workflow derives them (overrides applied)."""
    return {m: {o: run_settings(config, m, o) for o in config["optimizers"]}
            for m in config["models"]}


# A computed-style table: BM25 row with an inapplicable measure left empty, a tie in
# nDCG@10 (0.6300 twice), differences of +0.0100 and +0.0099 (no threshold separates them).
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
    macros.update(paper.result_macros(rows, reference="AdamW", candidate="Lion"))
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
                     "severalseeds": False, "sharedsettings": True, "decayall": True,
                     "bfsixteen": True, "modal": True, "nanobeir": True, "referencepoints": False}
    cited = {**CONFIG, "paper": {**CONFIG["paper"], "reference_points": "data/reference/points.tsv"}}
    assert paper.switches(cited, runs_of(CONFIG), reported_rows())["referencepoints"]
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


def test_difference_table_holds_every_signed_difference_and_bolds_none(computed_table):
    rows = paper.read_results(computed_table)
    tex = paper.difference_table(rows, reference="AdamW", candidate="Lion")
    assert "\\textbf" not in tex  # no single threshold decides what counts as a lead
    index = {(r.model, r.optimizer, r.epoch): r.values for r in rows if not r.is_baseline}
    expected = []
    for (model, optimizer, epoch), values in index.items():
        if optimizer == "Lion":
            expected += [round(values[m] - index[(model, "AdamW", epoch)][m], 4)
                         for m in ("NDCG@10", "MAP", "Recall@10", "R-Prec", "P@10", "MRR@10")]
    cells = [float(c.replace("$-$", "-")) for c in re.findall(r"[+]?(?:\$-\$)?\d\.\d{4}", tex)]
    assert cells == expected
    assert "+0.0100" in tex and "+0.0099" in tex


def test_hyperparameter_and_model_tables_come_from_config():
    software = paper.software_versions(ROOT / "requirements.txt", ROOT / "Makefile")
    hyper = paper.hyperparameter_table(CONFIG, software)
    # (2,000,000 - 10,000 held out) / 64 = 31,094 steps per epoch, 93,282 in 3 epochs,
    # ceil(0.1 * 93,282) = 9,329 warm-up steps.
    for text in ("Batch size & 64", "1{,}990{,}000 (of 2{,}000{,}000; 10{,}000 held out)",
                 "Steps per epoch, total & 31{,}094, 93{,}282", "Warm-up & ratio 0.1, 9{,}329 steps",
                 "gradient norm & 1 (trainer default)", "bf16", "one per positive",
                 "Seed & 12", "(0.9, 0.999)", "(0.9, 0.99)", r"\ensuremath{10^{-8}}",
                 "NanoBEIR", r"\texttt{transformers} & 5.24.0", r"\texttt{torch} & "):
        assert text in hyper, text
    assert hyper.count(r"$\epsilon$") == 1  # AdamW only: Lion has no epsilon
    models = paper.models_table(CONFIG, runs_of(CONFIG))
    assert r"\texttt{microsoft/MiniLM-L12-H384-uncased} at no pinned revision" in models
    assert "warm-up, linear" in models and "constant" in models
    assert "with Lion" not in models  # no overrides: one row per model
    tuned = copy.deepcopy(CONFIG)
    tuned["models"]["minilm"]["source"] = "tiny"
    tuned["overrides"] = {"minilm": {"lion": {"learning_rate": 1.0e-4, "weight_decay": 0.1}}}
    models = paper.models_table(tuned, runs_of(tuned))
    assert "tiny, built from config" in models
    assert r"\quad with Lion & & \ensuremath{10^{-4}} & warm-up, linear, $\lambda$ 0.1" in models


def test_authors_block_escapes_config_strings():
    block = paper.authors_block([{"name": "A_B", "affiliation": "R&D", "email": "a_b@x.org"},
                                 {"name": "C", "affiliation": "D"}])
    assert r"\IEEEauthorblockN{A\_B}" in block and r"R\&D" in block and r"\and" in block
    assert r"\hypersetup{pdfauthor={A\_B, C}}" in block
    with pytest.raises(ValueError, match="null for an anonymous"):
        paper.authors_block([])


def test_unset_authors_give_an_anonymous_block():
    block = paper.authors_block(None)
    assert r"\IEEEauthorblockN{Anonymous Authors}" in block
    assert r"\hypersetup{pdfauthor={Anonymous Authors}}" in block


def test_availability_links_come_from_config():
    macros = paper.availability_macros(CONFIG)
    assert macros["RepositoryLink"] == r"\url{https://example.org/crossopt}"
    unset = {**CONFIG, "paper": {**CONFIG["paper"], "repository_url": None}}
    assert "withheld for anonymous review" in paper.availability_macros(unset)["RepositoryLink"]


# --------------------------------------------------------------------------- sentences


def _mean_ndcg_difference(rows, model):
    """Lion minus AdamW in nDCG@10 averaged over epochs, straight from the rows."""
    index = {(r.model, r.optimizer, r.epoch): r.values["NDCG@10"] for r in rows if not r.is_baseline}
    deltas = [index[(model, "Lion", e)] - index[(model, "AdamW", e)]
              for (m, o, e) in index if m == model and o == "Lion"]
    return sum(deltas) / len(deltas)


def test_model_differences_are_the_mean_primary_difference_over_epochs(computed_table):
    for rows in (reported_rows(), paper.read_results(computed_table)):
        means = paper_analysis.model_differences(rows, "AdamW", "Lion")
        for model, value in means.items():
            assert value == pytest.approx(_mean_ndcg_difference(rows, model), abs=1e-9)


def _lr_paragraph(rows, config):
    names = {spec["name"]: key for key, spec in config["models"].items()}
    return paper_analysis.learning_rate_paragraph(
        rows, runs_of(config), names, reference="AdamW", candidate="Lion", reference_key="adamw",
        candidate_key="lion", ranking_name="TREC DL 2019", cite_lion="chen2023symbolic")


def test_learning_rate_pattern_is_stated_with_its_confound():
    rows = reported_rows()  # the brief's table: ModernBERT (2e-6) ahead, the others behind
    text = _lr_paragraph(rows, CONFIG)
    for model in ("MiniLM-L12-H384", "GTE-multilingual-base", "ModernBERT-base"):
        assert f"{paper.format_number(_mean_ndcg_difference(rows, model), signed=True)} for {model}" in text
    assert "In nDCG@10, Lion is ahead on average only where it ran at the smallest learning rate" in text
    # The MRR@10 averages are stated too, and where one contradicts the pattern it is named.
    mrr = paper_analysis.model_differences(rows, "AdamW", "Lion", (paper_analysis.MRR,))
    ahead = [m for m in ("MiniLM-L12-H384", "GTE-multilingual-base") if mrr.get(m, 0) > 0]
    assert ("(in MRR@10, though, it is ahead for" in text) == bool(ahead)
    assert all(m in text.split("(in MRR@10, though")[1] for m in ahead) if ahead else True
    assert "three to ten times smaller" in text and "confounded" in text
    assert "there is one run per configuration" in text


def test_learning_rate_paragraph_says_when_there_is_no_pattern(computed_table):
    rows = paper.read_results(computed_table)  # Lion ahead on average for both models
    text = _lr_paragraph(rows, CONFIG)
    assert "does not follow the learning rate" in text and "only where" not in text
    same = copy.deepcopy(CONFIG)
    same["models"]["modernbert"]["learning_rate"] = 2.0e-5
    assert "All models were trained with the same learning rate" in _lr_paragraph(rows, same)


def test_epoch_paragraph_names_peaks_and_runs_whose_measures_move_apart():
    rows = reported_rows()
    text = paper_analysis.epoch_paragraph(rows, reference="AdamW", candidate="Lion")
    # Independently: the epoch of each run's best nDCG@10 (first epoch on ties).
    runs = {}
    for r in rows:
        runs.setdefault((r.model, r.optimizer), []).append(r)
    for (model, optimizer), own in runs.items():
        best = max(own, key=lambda r: (r.values["NDCG@10"], -r.epoch))
        assert f"{model} with {optimizer}" in text
        peaks = text.split(". ")[1]
        assert f"{model} with {optimizer}" in peaks
        assert best.epoch in (1, 2, 3)
    assert ("most clearly for MiniLM-L12-H384 with Lion (nDCG@10 0.7031 to 0.6808, MRR@10 "
            "0.5890 to 0.5988)") in text


def test_resolution_paragraph_scales_with_the_query_counts():
    text = paper_analysis.resolution_paragraph(43, None, ranking_name="TREC DL 2019",
                                               mrr_name="MS MARCO dev", per_query=False)
    assert "multiple of $1/430 \\approx 0.0023$" in text
    assert "exceeds $0.30\\,s_d$" in text  # 2 / sqrt(43) = 0.305
    assert "do not give their number" in text and "call none of them significant" in text
    known = paper_analysis.resolution_paragraph(43, 10047, ranking_name="TREC DL 2019",
                                                mrr_name="MS MARCO dev", per_query=True)
    assert "standard error 15.3 times smaller" in known  # sqrt(10047 / 43) = 15.29
    assert "tests of \\cref{sec:stats} use it" in known


def test_query_counts_come_from_the_evaluations_and_must_agree(tmp_path):
    def write(name, testset, n):
        path = tmp_path / name
        path.write_text(json.dumps({"testset": testset, "n_queries": n}))
        return path

    files = [write("a.json", "dl19", 43), write("b.json", "dl19", 43), write("c.json", "dev", None)]
    assert paper_analysis.query_counts(files) == {"dl19": 43, "dev": None}
    with pytest.raises(ValueError, match="different numbers of queries"):
        paper_analysis.query_counts(files + [write("d.json", "dl19", 42)])


def test_headline_and_conclusion_state_the_finding_in_different_words():
    rows = reported_rows()
    macros = paper_analysis.finding_macros(rows, CONFIG, runs_of(CONFIG), reference="AdamW",
                                           candidate="Lion")
    headline, conclusion = macros["Headline"], macros["ConclusionFinding"]
    assert headline.startswith("Averaged over the epochs, Lion is ahead of AdamW in nDCG@10")
    assert "changed sign with the model" in conclusion
    assert not paper.repeated_sentences(headline + ". " + conclusion, min_words=8)


REFERENCE_HEADER = "system\tdescription\ttestset\tmeasure\tvalue\tcite\tsource\n"


def test_reference_points_are_cited_and_placed_against_every_run(tmp_path):
    path = tmp_path / "points.tsv"
    path.write_text(REFERENCE_HEADER
                    + "BM25\tBM25 over the collection\tdl19\tNDCG@10\t0.5058\tlin2021pyserini\tregression\n"
                    + "Mid\ta middle system\tdl19\tNDCG@10\t0.7\tsbert_ce_msmarco\tdocs\n"
                    + "Other\tanother collection's figure\tscifact\tNDCG@10\t0.9\tthakur2021beir\tdocs\n",
                    encoding="utf-8")
    points = paper_analysis.read_reference_points(path)
    rows = reported_rows()
    text = paper_analysis.reference_paragraph(rows, points, CONFIG, 43)
    runs = [r.values["NDCG@10"] for r in rows if not r.is_baseline]
    above_mid = sum(v > 0.7 for v in runs)
    assert 0 < above_mid < len(runs)
    assert "for the same 43 queries of TREC DL 2019" in text and "does not reproduce them" in text
    assert "BM25 over the collection scores 0.5058 nDCG@10~\\cite{lin2021pyserini}" in text
    assert "a middle system scores 0.7000 nDCG@10~\\cite{sbert_ce_msmarco}" in text
    assert f"all {len(runs)} runs score above BM25" in text
    assert f"{above_mid} of the {len(runs)} runs score above Mid" in text
    assert "Other" not in text and "0.9000" not in text  # not a test set of the table
    only_other = [p for p in points if p["system"] == "Other"]
    assert paper_analysis.reference_paragraph(rows, only_other, CONFIG, 43) == ""


@pytest.mark.parametrize("line, message", [
    ("BM25\tx\tdl19\tNDCG@10\t50.58\tkey\tsrc", "2: value 50.58 is not a fraction"),
    ("BM25\tx\tdl19\tnDCG\t0.5\tkey\tsrc", "2: unknown measure 'nDCG'"),
    ("BM25\tx\tdl19\tNDCG@10\thalf\tkey\tsrc", "2: value 'half' is not a number"),
    ("BM25\tx\tdl19\tNDCG@10\t0.5\tkey", "2: expected 7 non-empty tab-separated fields"),
])
def test_reference_points_errors_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "points.tsv"
    path.write_text(REFERENCE_HEADER + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{path}:{message}")):
        paper_analysis.read_reference_points(path)
    path.write_text("system\tvalue\n", encoding="utf-8")
    with pytest.raises(ValueError, match=":1: header"):
        paper_analysis.read_reference_points(path)


def test_committed_reference_points_parse_and_cite_known_keys():
    points = paper_analysis.read_reference_points(ROOT / "data" / "reference" / "points.tsv")
    bib = (ROOT / "paper" / "references.bib").read_text(encoding="utf-8")
    assert {p["system"] for p in points} >= {"BM25"}
    for point in points:
        assert "@" in bib and f"{{{point['cite']}," in bib, point["cite"]


def test_lost_spaces_finds_sentences_glued_together():
    text = "is not a source of any of them.Because the rate changed; see Fig. 2 and v1.1 data.\nNext"
    assert paper.lost_spaces(text) == ["them.Because"]
    assert paper.lost_spaces("e.g. a URL like https://example.org/Path and Section V.A.") == []


def test_repeated_phrases_of_six_words_are_found_three_times_not_twice():
    phrase = "on MS MARCO dev (v1.1 validation, given passages)"
    twice = f"One {phrase} here. Another {phrase} there."
    assert paper.repeated_phrases(twice) == []
    found = dict(paper.repeated_phrases(twice + f" And a third {phrase}."))
    assert found["ms marco dev v1.1 validation given"] == 3
    # A line break with a hyphen inside a word does not hide a repeat.
    assert paper.repeated_phrases("the warm-\nup linear schedule of the runs " * 3)
    # Rows of numbers are not phrases; table headers and prose are.
    assert paper.repeated_phrases("1 2 3 Lion 1 2 3 " * 4) == []
    assert paper.repeated_phrases("Ep. nDCG@10 MAP R@10 R-Prec P@10 x " * 3)


def test_pdf_body_text_ends_at_the_references(tmp_path, monkeypatch):
    import subprocess as sp

    text = "Body text.\n\fREFERENCES\n[1] Proc. International Conference on Learning Representations\n"
    monkeypatch.setattr(sp, "run", lambda *a, **k: sp.CompletedProcess(a, 0, stdout=text))
    assert paper.pdf_body_text(tmp_path / "x.pdf").strip() == "Body text."


def test_every_latex_and_bibtex_warning_is_a_problem():
    log = ("LaTeX Warning: `h' float specifier changed to `ht'.\n"
           "Package hyperref Warning: Token not allowed in a PDF string\n"
           "Class IEEEtran Warning: something\n"
           "LaTeX Font Info: not a warning\n")
    problems = paper.latex_problems(log)
    assert len(problems) == 3 and "float specifier" in problems[0]
    blg = "Warning--empty journal in foo2020\nYou've used 3 entries,\n"
    assert paper.bibtex_problems(blg) == ["Warning--empty journal in foo2020"]
    assert paper.bibtex_problems("You've used 3 entries,\n") == []


def test_resolution_limit_macros_follow_the_borrowed_spread():
    from crossopt import paper_analysis

    macros, switches = paper_analysis.resolution_macros(43, {"sd": 0.239, "per_seed": [0.239]})
    assert switches == {"resolutionlimit": True}
    assert macros["ResolutionLimit"] == f"{2 * 0.239 / math.sqrt(43):.3f}"
    assert macros["ResolutionLimitRange"] == macros["ResolutionLimit"]
    assert macros["ResolutionQueries"] == "43"
    macros, _ = paper_analysis.resolution_macros(43, {"sd": 0.2, "per_seed": [0.15, 0.25]})
    assert macros["ResolutionLimitRange"] == (f"{2 * 0.15 / math.sqrt(43):.3f}--"
                                              f"{2 * 0.25 / math.sqrt(43):.3f}")
    assert paper_analysis.resolution_macros(43, None) == ({}, {"resolutionlimit": False})


def test_a_p_value_at_the_permutation_floor_is_written_as_a_bound():
    from crossopt import paper_stats

    assert paper.p_clause(0.0123) == "$p = 0.012$"
    assert paper.p_clause(0.0123, bound=True) == "$p \\le 0.012$"
    test = paper_stats.PairedTest(family="f", testset="t", measure="m", system_a="a",
                                  system_b="b", n=43, n_dropped=0, diff=0.1, ci_low=0.0,
                                  ci_high=0.2, d_z=1.0, p_t=1e-5, p_perm=1 / 10001,
                                  p_t_holm=1e-4, p_perm_holm=54 / 10001, test="perm",
                                  alpha=0.05, significant=True)
    assert paper_stats.at_permutation_floor(test, 10000)
    assert not paper_stats.at_permutation_floor(test, 100000)
    assert not paper_stats.at_permutation_floor(
        paper_stats.PairedTest(**{**test.__dict__, "test": "t"}), 10000)


def test_repeated_sentences_are_found_across_line_breaks():
    text = ("The optimizer was swapped and every other setting of the recipe was kept as it was.\n"
            "Short one. The optimizer was swapped and every other set-\nting of the recipe was "
            "kept as it was. Another sentence follows here.")
    assert paper.repeated_sentences(text) == [
        "The optimizer was swapped and every other setting of the recipe was kept as it was."]
    assert paper.repeated_sentences("A b c. A b c.", min_words=13) == []


# --------------------------------------------------------------------------- significance

STATISTICS = {"baseline_optimizer": "adamw", "alpha": 0.05, "test": "perm",
              "permutations": 10000, "bootstrap_resamples": 2000, "confidence": 0.95,
              "seed": 12}
MODEL_KEYS = {"MiniLM-L12-H384": "minilm", "ModernBERT-base": "modernbert"}
OPTIM_KEYS = {"AdamW": "adamw", "Lion": "lion"}
COLUMN_SPECS = CONFIG["table"]["columns"]
# Hand-picked outcomes for the COMPUTED_TSV runs. Lion vs AdamW: MiniLM epoch 1 nDCG@10
# (+0.0100, Lion ahead) and ModernBERT epoch 2 P@10 ($-$0.0050, AdamW ahead). Against BM25:
# two runs on nDCG@10 and one on MAP, all above BM25.
SIGNIFICANT_OPT = {("MiniLM-L12-H384", 1, "NDCG@10"), ("ModernBERT-base", 2, "P@10")}
SIGNIFICANT_BASE = {("MiniLM-L12-H384", "AdamW", 1, "NDCG@10"),
                    ("ModernBERT-base", "Lion", 1, "NDCG@10"),
                    ("ModernBERT-base", "Lion", 2, "MAP")}
# One optimizer comparison where the t-test disagrees with the deciding randomization test,
# and one with a raw p-value below alpha that Holm's correction lifts above it.
T_DISAGREES = ("MiniLM-L12-H384", 2, "MAP")
RAW_ONLY = ("ModernBERT-base", 1, "NDCG@10")
N_QUERIES = 43


def label(model: str, optimizer: str, epoch: int) -> str:
    return f"{MODEL_KEYS[model]}/{OPTIM_KEYS[optimizer]}/epoch{epoch}"


def write_statistics(directory: Path, rows, *, n_seeds: int = 1, alpha: float = 0.05,
                     test: str = "perm") -> tuple[Path, Path]:
    """significance.tsv and means.tsv for the runs of `rows`, shaped like the workflow's."""
    index = {(r.model, r.optimizer, r.epoch): r for r in rows if not r.is_baseline}
    base = next(r for r in rows if r.is_baseline)
    header = "\t".join(paper.SIGNIFICANCE_COLUMNS)
    lines = [header]

    def record(family, system_a, system_b, column, diff, significant, t_significant,
               raw_only=False):
        """(raw, Holm) p-values: (0.0004, 0.004) significant, (0.2, 0.5) not, and
        (0.03, 0.5) for a raw p-value that only the correction lifts above alpha."""
        spec = COLUMN_SPECS[column]
        p_not = (0.03, 0.5) if raw_only else (0.2, 0.5)
        p_perm = (0.0004, 0.004) if significant else p_not
        p_t = (0.0004, 0.004) if t_significant else p_not
        values = {
            "family": family, "testset": spec["testset"], "measure": spec["measure"],
            "system_a": system_a, "system_b": system_b, "n": N_QUERIES, "n_dropped": 0,
            "dropped": "", "mean_a": 0.5 + diff, "mean_b": 0.5, "diff": diff,
            "ci_low": diff - 0.03, "ci_high": diff + 0.04, "d_z": 0.25, "t": 1.5,
            "p_t": p_t[0], "p_perm": p_perm[0], "p_t_holm": p_t[1], "p_perm_holm": p_perm[1],
            "test": test, "alpha": alpha, "significant": "yes" if significant else "no"}
        lines.append("\t".join(str(values[c]) for c in paper.SIGNIFICANCE_COLUMNS))

    for (model, optimizer, epoch), row in index.items():
        if optimizer != "Lion":
            continue
        ref = index[(model, "AdamW", epoch)]
        for column in paper.MEASURES:
            key = (model, epoch, column)
            sig = key in SIGNIFICANT_OPT
            record("lion_vs_adamw", label(model, "Lion", epoch), label(model, "AdamW", epoch),
                   column, row.values[column] - ref.values[column], sig,
                   sig != (key == T_DISAGREES), raw_only=key == RAW_ONLY)
    for (model, optimizer, epoch), row in index.items():
        for column in paper.MEASURES:
            if base.values[column] is None:
                continue
            sig = (model, optimizer, epoch, column) in SIGNIFICANT_BASE
            record("vs_bm25", label(model, optimizer, epoch), "bm25", column,
                   row.values[column] - base.values[column], sig, sig)
    significance = directory / "significance.tsv"
    significance.write_text("\n".join(lines) + "\n", encoding="utf-8")

    means = [paper.MEANS_COLUMNS]
    for row in rows:
        system = "bm25" if row.is_baseline else label(row.model, row.optimizer, row.epoch)
        for column in paper.MEASURES:
            if row.values[column] is None:
                continue
            spec = COLUMN_SPECS[column]
            seeds = 1 if row.is_baseline else n_seeds
            sd = "" if seeds == 1 else str(0.001 * (row.epoch + 10 * len(column) % 7))
            value = row.values[column]
            means.append((column, spec["testset"], spec["measure"], system, str(N_QUERIES),
                          str(seeds), str(value), str(value - 0.05), str(value + 0.04), sd))
    means_path = directory / "means.tsv"
    means_path.write_text("\n".join("\t".join(m) for m in means) + "\n", encoding="utf-8")
    return significance, means_path


def computed_config(n_seeds: int = 1) -> dict:
    config = copy.deepcopy(CONFIG)
    config["paper"].update(results="computed", toy=True)
    config["study"]["seeds"] = [12 + i for i in range(n_seeds)]
    config["statistics"] = dict(STATISTICS)
    return config


@pytest.fixture
def computed_stats(tmp_path, computed_table):
    rows = paper.read_results(computed_table)
    config = computed_config()
    sig, means = write_statistics(tmp_path, rows)
    stats = paper.load_statistics(sig, means, config)
    paper.check_statistics(stats, rows, reference="AdamW", candidate="Lion")
    return rows, stats, config


def table_cells(tex: str, columns) -> dict[tuple, str]:
    """{(model, optimizer, epoch, column): cell text} parsed back from a generated tabular."""
    cells, model, optimizer = {}, None, None
    for line in tex.splitlines():
        header = re.match(r"\\multicolumn\{\d+\}\{@\{\}l\}\{\\emph\{(.*)\}\} \\\\$", line)
        if header:
            model = header.group(1)
            continue
        parts = [p.strip() for p in line.removesuffix(r"\\").split(" & ")]
        if len(parts) != len(columns) + 2 or not re.fullmatch(r"\d+|--", parts[1]):
            continue
        if parts[0] == "BM25":
            key_base = ("BM25", "", None)
        else:
            optimizer = parts[0] or optimizer
            key_base = (model, optimizer, int(parts[1]))
        for column, cell in zip(columns, parts[2:]):
            cells[key_base + (column,)] = cell
    return cells


TABLE_ORDER = list(paper.RANKING_MEASURES + paper.MRR_MEASURES)


def test_markers_sit_exactly_on_significant_cells(computed_stats):
    rows, stats, _ = computed_stats
    tex = paper.results_table(rows, ranking_name="DL", stats=stats)
    cells = table_cells(tex, TABLE_ORDER)
    assert len(cells) == 9 * 6  # BM25 and eight runs, every column parsed
    opt = {(m, e, c) for (m, o, e, c), text in cells.items() if r"\sigopt" in text}
    assert opt == SIGNIFICANT_OPT
    assert all(o == "Lion" for (m, o, e, c), text in cells.items() if r"\sigopt" in text)
    above = {k for k, text in cells.items() if r"\sigabove" in text}
    assert above == SIGNIFICANT_BASE
    assert not any(r"\sigbelow" in text for text in cells.values())
    # Every cell of a computed table has its (possibly empty) marker box: columns align.
    assert all(r"\sigmarks{" in text for text in cells.values())
    # One seed: no seed spread is shown.
    assert r"\seedsd" not in tex


def test_marker_direction_against_bm25(computed_stats):
    rows, stats, _ = computed_stats
    key = ("MiniLM-L12-H384", "AdamW", 1, "NDCG@10")
    below = dict(stats.baseline_tests)
    below[key] = paper.PairedTest(**{**stats.baseline_tests[key].__dict__, "diff": -0.02})
    stats = paper.StudyStatistics(**{**stats.__dict__, "baseline_tests": below})
    assert paper.cell_marks(stats, key) == r"\sigbelow"
    assert paper.cell_marks(stats, ("MiniLM-L12-H384", "Lion", 1, "NDCG@10")) == r"\sigopt"
    assert paper.cell_marks(None, key) == ""


def test_difference_table_marks_and_intervals(computed_stats):
    rows, stats, _ = computed_stats
    tex = paper.difference_table(rows, reference="AdamW", candidate="Lion", stats=stats)
    marked = [line for line in tex.splitlines() if r"\sigopt" in line]
    assert len(marked) == 2
    assert r"+0.0100\sigmarks{\sigopt}" in tex  # MiniLM epoch 1 nDCG@10
    assert r"$-$0.0050\sigmarks{\sigopt}" in tex  # ModernBERT epoch 2 P@10
    # An interval line under each of the four model-epoch rows, one interval per measure.
    intervals = [line for line in tex.splitlines() if r"\diffci" in line]
    assert len(intervals) == 4 and all(line.count(r"\diffci") == 6 for line in intervals)
    # MiniLM epoch 1 nDCG@10: diff 0.0100, interval [0.0100 - 0.03, 0.0100 + 0.04].
    assert intervals[0].startswith(r" & \diffci{[$-$0.0200, +0.0500]} & ")
    plain = paper.difference_table(rows, reference="AdamW", candidate="Lion")
    assert r"\sigmarks" not in plain and r"\diffci" not in plain


def test_seed_spread_appears_with_several_seeds(tmp_path, computed_table):
    rows = paper.read_results(computed_table)
    config = computed_config(n_seeds=2)
    stats = paper.load_statistics(*write_statistics(tmp_path, rows, n_seeds=2), config)
    tex = paper.results_table(rows, ranking_name="DL", stats=stats)
    cells = table_cells(tex, TABLE_ORDER)
    for key, text in cells.items():
        if key[0] == "BM25":
            assert text.endswith(r"\seedsdnone")
        else:
            sd = stats.means[key].seed_sd
            assert text.endswith(rf"\seedsd{{{sd:.4f}}}"), (key, text)
    assert paper.switches(config, runs_of(config), rows)["severalseeds"]
    assert not paper.switches(computed_config(), runs_of(config), rows)["severalseeds"]
    text = paper.significance_text(stats, rows, reference="AdamW", candidate="Lion")
    sds = [m.seed_sd for k, m in stats.means.items() if k[3] == "NDCG@10" and k[0] != "BM25"]
    assert f"mean over two seeds" in text
    assert f"at most {max(sds):.4f}" in text
    assert f"(median {statistics.median(sds):.4f})" in text


def test_significance_sentences_match_the_data(computed_stats):
    rows, stats, _ = computed_stats
    text = paper.significance_text(stats, rows, reference="AdamW", candidate="Lion")
    # Family: 2 models x 2 epochs x 6 measures; 2 significant, each listed with its numbers.
    assert "The 24 Lion--AdamW comparisons" in text
    assert ("2 models $\\times$ 2 epochs $\\times$ 6 measures") in text
    assert "Before the correction, 3 of them would have $p \\le 0.05$" in text
    assert "2 are significant at $\\alpha = 0.05$ (1 in favour of Lion, 1 of AdamW)" in text
    assert ("nDCG@10 of MiniLM-L12-H384 at epoch 1 (+0.0100, $d_z = 0.25$, "
            "95\\% CI [$-$0.0200, +0.0500], "
            "adjusted $p = 0.004$)") in text
    assert "P@10 of ModernBERT-base at epoch 2 ($-$0.0050" in text
    assert "reaches the same decision in 23 of the 24 comparisons" in text
    # BM25 family: 8 runs x 5 measures with a BM25 value; 3 above, none below.
    assert "The 40 comparisons of every reranked run with the BM25 ranking" in text
    assert "3 are significantly above BM25 (marked~$^{\\sigabove}$)" in text
    assert "none significantly below, and 37 cannot be told apart from BM25" in text
    assert "With a single seed per configuration" in text
    macros = paper.significance_macros(stats, rows, reference="AdamW", candidate="Lion")
    assert macros["NumOptFamily"] == "24" and macros["NumBaseFamily"] == "40"
    assert macros["SigTestName"] == "paired randomization test"
    assert macros["SigOtherTestName"] == "paired t-test"
    assert macros["NumPermutations"] == "10{,}000" and macros["StatSeed"] == "12"
    assert macros["NumBootstrap"] == "2{,}000" and macros["ConfidencePct"] == "95"
    assert macros["SignificanceSummary"].endswith(
        "finds 2 significant differences, 1 in favour of Lion and 1 in favour of AdamW")
    assert "point both ways" in macros["SignificanceVerdict"]
    assert all(re.fullmatch(r"[A-Za-z]+", name) for name in macros)


@pytest.mark.parametrize("excluding", [3, 4])
def test_unadjusted_intervals_are_counted_from_the_file(tmp_path, computed_table, excluding):
    rows = paper.read_results(computed_table)
    sig, means = write_statistics(tmp_path, rows)
    lines = sig.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    records = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    # Give some optimizer comparisons an interval that excludes zero.
    chosen = [r for r in records if r["family"] == "lion_vs_adamw"][:excluding]
    for r in records:
        if r["family"] == "lion_vs_adamw":
            r["ci_low"], r["ci_high"] = ("0.001", "0.05") if r in chosen else ("-0.02", "0.02")
    sig.write_text("\n".join(["\t".join(header)] + ["\t".join(r[c] for c in header)
                                                     for r in records]) + "\n",
                   encoding="utf-8")
    stats = paper.load_statistics(sig, means, computed_config())
    out = paper.significance_text(stats, rows, reference="AdamW", candidate="Lion")
    # The fixture has 3 uncorrected tests below alpha; only more intervals are remarked on.
    more = ", more than the 3 uncorrected tests with $p \\le 0.05$" if excluding > 3 else ""
    assert (f"The intervals are not adjusted for the 24 comparisons: {excluding} of them "
            f"exclude zero{more}. They describe") in out


def test_significance_sentences_when_nothing_is_significant(tmp_path, computed_table):
    rows = paper.read_results(computed_table)
    sig, means = write_statistics(tmp_path, rows)
    text = sig.read_text(encoding="utf-8").replace("\tyes\n", "\tno\n")
    text = text.replace("\t0.004\t", "\t0.5\t").replace("\t0.0004\t", "\t0.2\t")
    sig.write_text(text, encoding="utf-8")
    stats = paper.load_statistics(sig, means, computed_config())
    out = paper.significance_text(stats, rows, reference="AdamW", candidate="Lion")
    assert "after it, none is significant" in out and r"\sigopt" not in out
    assert paper.significance_summary(stats, reference="AdamW", candidate="Lion").endswith(
        "finds none of the differences significant")
    assert "do not show that either optimizer" in paper.significance_verdict(
        stats, reference="AdamW", candidate="Lion")
    tex = paper.results_table(rows, ranking_name="DL", stats=stats)
    assert r"\sigopt" not in tex and r"\sigabove" not in tex


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("\tperm\t", "\tt\t", 1), "stale"),
    (lambda t: t.replace("minilm/lion/epoch1\tminilm/adamw/epoch1",
                         "minilm/lion/epoch9\tminilm/adamw/epoch9", 1), "does not have"),
    (lambda t: "\n".join(line for line in t.splitlines()
                         if not line.startswith("lion_vs_adamw\tdl19\tmap\tmodernbert/lion/epoch2")
                         ) + "\n", "no Lion-vs-AdamW test"),
    (lambda t: t.replace("\tyes\n", "\tmaybe\n", 1), "yes or no"),
    (lambda t: t.replace("minilm/lion/epoch1", "minilm/sgd/epoch1", 1), "system label"),
])
def test_statistics_that_do_not_match_the_table_are_refused(tmp_path, computed_table, edit,
                                                           message):
    rows = paper.read_results(computed_table)
    sig, means = write_statistics(tmp_path, rows)
    sig.write_text(edit(sig.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        stats = paper.load_statistics(sig, means, computed_config())
        paper.check_statistics(stats, rows, reference="AdamW", candidate="Lion")


def test_statistics_from_another_table_are_refused(tmp_path, computed_table):
    """A tested difference that disagrees with the table beyond rounding: different runs."""
    rows = paper.read_results(computed_table)
    sig, means = write_statistics(tmp_path, rows)
    other = computed_table.read_text(encoding="utf-8").replace("0.6100\t0.4099", "0.6400\t0.4099")
    computed_table.write_text(other, encoding="utf-8")
    stats = paper.load_statistics(sig, means, computed_config())
    with pytest.raises(ValueError, match="tested difference"):
        paper.check_statistics(stats, paper.read_results(computed_table), reference="AdamW",
                               candidate="Lion")
    with pytest.raises(ValueError, match="seeds"):
        paper.load_statistics(sig, means, computed_config(n_seeds=2))


def test_statistics_settings_reach_only_the_computed_paper():
    """A change of `statistics:` must not rebuild a paper that cannot use it."""
    assert "statistics" in paper.paper_config(computed_config())
    assert "statistics" not in paper.paper_config({**CONFIG, "statistics": STATISTICS})


def test_p_values_and_effect_sizes_are_printed_consistently():
    assert paper.p_clause(0.0004) == "$p < 0.001$"
    assert paper.p_clause(0.0123) == "$p = 0.012$"
    assert paper.p_clause(1.0) == "$p = 1.000$"
    assert paper.effect_clause(0.4251) == "$d_z = 0.43$"
    assert paper.effect_clause(-0.4251) == "$d_z = -0.43$"
    assert paper.effect_clause(float("-inf")) == r"$d_z = -\infty$"


def test_epoch_figure_with_intervals(tmp_path, computed_table):
    rows = paper.read_results(computed_table)
    significance, means = write_statistics(tmp_path, rows)
    stats = paper.load_statistics(significance, means, computed_config())
    intervals = figures.difference_intervals(stats.optimizer_tests)
    # write_statistics puts each interval at diff - 0.03 .. diff + 0.04 (Lion - AdamW).
    assert intervals[("MiniLM-L12-H384", 1, "NDCG@10")] == pytest.approx((-0.02, 0.05))
    data = figures.epoch_differences(rows, reference="AdamW", candidate="Lion",
                                     intervals=intervals)
    out = tmp_path / "epochs.pdf"
    figures.plot_epoch_differences(data, out)
    assert out.read_bytes().startswith(b"%PDF")


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
        if "build" in path.relative_to(ROOT / "paper").parts:
            continue  # a build's copies must not decide the test
        for group in re.findall(r"\\cite\{([^}]*)\}", path.read_text(encoding="utf-8")):
            cited.update(k.strip() for k in group.split(","))
    # The published reference points are cited by the generated results text.
    cited.update(p["cite"] for p in paper_analysis.read_reference_points(ROOT / "data" / "reference" / "points.tsv"))
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
    data = figures.epoch_differences(paper.read_results(computed_table), reference="AdamW",
                                     candidate="Lion")
    figures.plot_epoch_differences(data, out)
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

def paper_snakefile() -> str:
    """The paper rules with the input functions of rules/common.smk's paper section.

    common.smk also validates the whole config against the schema and defines the
    study's rules, which the paper tests do not need; its paper section is used as is.
    """
    common = (ROOT / "rules" / "common.smk").read_text(encoding="utf-8")
    section = common[common.index("# --- the paper"):]
    return f"""\
import glob
import os

from crossopt.codehash import code_version
from crossopt.config import epochs
from crossopt.study import Grid, StatisticsSettings, Study, columns_from

configfile: "config.yaml"


def code(script=None, modules=(), packages=()):
    # rules/common.smk's code param: the script and the package modules it imports
    return code_version("{ROOT / 'scripts'}/" + script if script else None, tuple(modules), tuple(packages))


def cluster_resources(mem_mb, runtime, gpu=None):
    # rules/common.smk's cluster requests, unscaled (the test's config has no cluster section)
    return {{"mem_mb": mem_mb, "runtime": runtime, **({{"gpu": gpu}} if gpu is not None else {{}})}}

# The test's config holds only the sections the paper reads, so the Study is assembled
# here instead of by Study.from_config, which validates the whole study's config.
STUDY = Study(
    config=config,
    grid=Grid(models={{k: v["name"] for k, v in config["models"].items()}},
              optimizers={{k: v["name"] for k, v in config["optimizers"].items()}},
              seeds=tuple(config["study"]["seeds"]), epochs=tuple(epochs(config))),
    testsets=tuple(k for k, v in config["testsets"].items() if v.get("enabled", True)),
    columns=columns_from(config["table"]["columns"]),
    statistics=StatisticsSettings(**config["statistics"]) if "statistics" in config else None,
)
MODELS, OPTIMS, SEEDS = STUDY.models, STUDY.optimizers, STUDY.seeds


def table_evaluations():
    # The test writes results/table.tsv directly: no evaluation files, no query counts.
    return []

{section}

include: "{ROOT / 'rules' / 'paper.smk'}"

rule paper:
    input: "paper/build/main.pdf"
"""


def run_paper_workflow(workdir: Path, config: dict) -> Path:
    """Build the paper with the real rules in a scratch working directory."""
    shutil.copytree(ROOT / "paper", workdir / "paper", ignore=shutil.ignore_patterns("build"))
    for pins in ("requirements.txt", "Makefile"):  # the hyperparameter table's software
        shutil.copy(ROOT / pins, workdir / pins)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    (workdir / "Snakefile").write_text(paper_snakefile(), encoding="utf-8")
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
    log = pdf.with_suffix(".log").read_text(encoding="utf-8", errors="replace")
    assert paper.latex_problems(log) == []
    if pdf.with_suffix(".blg").exists():
        assert paper.bibtex_problems(pdf.with_suffix(".blg").read_text()) == []
    text = pdf_text(pdf)
    assert "??" not in text
    assert paper.lost_spaces(text) == []  # no sentence glued to the next by a switch
    return text


def run_real_workflow(workdir: Path, config: dict | None = None, target: str = "paper") -> Path:
    """`snakemake --cores 1 paper` (or another target) with the repository's Snakefile in a
    scratch folder; the default config.yaml unless `config` replaces it."""
    args = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
            str(workdir), "--cores", "1"]
    path = ROOT / "config.yaml"
    if config is not None:
        path = workdir / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    args += ["--configfile", str(path)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(args[:3] + [target] + args[3:], cwd=workdir, env=env, capture_output=True, text=True)
    logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}"
                     for p in sorted((workdir / "logs").rglob("*.log"))) \
        if (workdir / "logs").exists() else ""
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:] + logs
    return workdir / "paper" / "build" / "main.pdf"


def pdf_info(pdf: Path) -> dict[str, str]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return dict(line.split(":", 1) for line in info.stdout.splitlines() if ":" in line) | {}


def four(value: float) -> str:
    """A value as the tables print it: rounded half-up to 4 decimals."""
    return f"{math.floor(value * 10**4 + 0.5) / 10**4:.4f}"


def researcher_values() -> set[str]:
    """Every number in the researcher's files, as the paper would print it."""
    values = set()
    for path in RESEARCHER_FILES.rglob("*.json"):
        values |= {four(v) for k, v in json.loads(path.read_text()).items() if k != "runid"}
    values |= {four(float(v)) for v in re.findall(r'"mrr_at_10":\s*([0-9.]+)',
                                                  (RESEARCHER_FILES / "mrrs.txt").read_text())}
    return values


def citation_lists_are_sorted(text: str) -> list[str]:
    """Citation groups such as '[21], [22]' whose numbers are not ascending."""
    bad = []
    for group in re.findall(r"\[\d+\](?:(?:, |–)\[\d+\])+", text):
        numbers = [int(n) for n in re.findall(r"\d+", group)]
        if numbers != sorted(numbers):
            bad.append(group)
    return bad


needs_researcher_files = pytest.mark.skipif(
    not RESEARCHER_FILES.is_dir(),
    reason=f"the researcher's evaluation files are not at {RESEARCHER_FILES} ")


@needs_latex
@needs_researcher_files
def test_the_stand_alone_replication_paper_builds_from_the_committed_run(tmp_path):
    """rule replication_pdf with config.yaml: the SciFact replication as a short paper, from
    data/scifact alone (no training), clean, with its abstract, the committed run's numbers
    and a reference list of exactly the works it cites."""
    run_real_workflow(tmp_path, target="paper/build/replication/replication.pdf")
    pdf = tmp_path / "paper" / "build" / "replication" / "replication.pdf"
    text = assert_clean_build(pdf)
    assert not (tmp_path / "results" / "models").exists()  # nothing was trained
    assert 2 <= page_count(pdf) <= 4
    assert "Abstract" in text and "Anonymous Authors" in text
    # the committed run's last-epoch nDCG@10 (mean over seeds), to the 3 decimals the paper uses
    rows = [line.split("\t") for line in (ROOT / "data" / "scifact" / "table.tsv").read_text().splitlines()]
    header, last = rows[0], max(int(r[2]) for r in rows[1:] if r[2].isdigit())
    column = header.index("NDCG@10")
    for optimizer in ("AdamW", "Lion"):
        (value,) = [float(r[column]) for r in rows[1:] if r[1] == optimizer and r[2] == str(last)]
        assert f"{value:.3f}" in text, (optimizer, value)
    bbl = pdf.with_suffix(".bbl").read_text()
    cited = set()
    for source in [ROOT / "paper" / "replication.tex", *(ROOT / "paper" / "sections").glob("replication*.tex")]:
        for keys in re.findall(r"\\cite[pt]?\{([^}]*)\}", source.read_text()):
            cited |= {k.strip() for k in keys.split(",")}
    assert bbl.count("\\bibitem") == len(cited) > 10


def test_default_config_builds_the_paper_from_the_researcher_files(tmp_path):
    """`snakemake --cores 1 paper` with config.yaml: no training, every result from the
    researcher's files, the reconciliation in an appendix, the brief's differing values
    nowhere else."""
    pdf = run_real_workflow(tmp_path)
    text = assert_clean_build(pdf)
    pages = page_count(pdf)
    pages_text = [pdf_text(pdf, page) for page in range(1, pages + 1)]
    # At most eight pages before the references (the SciFact replication included): the
    # references start on page 8 at the latest, or at the top of page 9.
    references = max(i for i, page in enumerate(pages_text, start=1) if "REFERENCES" in page
                     or "R EFERENCES" in page)
    heading = re.search(r"R ?EFERENCES", pages_text[references - 1])
    body_pages = references if pages_text[references - 1][:heading.start()].strip() else references - 1
    assert body_pages <= 8, f"the references start on page {references}, after {body_pages} pages of text"
    assert not (tmp_path / "results" / "models").exists()  # nothing was trained
    info = pdf_info(pdf)
    assert info["Title"].strip() == ("Lion or AdamW for Cross-Encoder Rerankers? A Re-analysis of "
                                     "One Study's TREC DL 2019 Outputs and a Controlled "
                                     "Replication on SciFact")
    assert info["Author"].strip() == "Anonymous Authors"  # paper.authors is unset
    assert "Anonymous Authors" in pdf_text(pdf, 1)
    assert "withheld" in text  # paper.repository_url is unset
    assert paper.repeated_sentences(text) == []  # each fact stated once
    assert paper.repeated_phrases(paper.pdf_body_text(pdf)) == []  # no 6-word phrase thrice
    assert "separates what is known about the researcher" in text  # the provenance table
    assert "most likely had" in text and "brief, code" in text
    assert citation_lists_are_sorted(text) == []
    assert "Toy results" not in text and "Training dynamics of" not in text  # no training-curve figure
    # Numbers of the table come from the files: GTE-Lion nDCG@10 at epoch 1.
    assert "0.6970" in text and "0.7225" in text
    # Without per-query data: no tests, and the paper says so and shows the epoch spread.
    assert "Statistical analysis" not in text and "†" not in text
    setup = (tmp_path / "paper" / "build" / "sections" / "setup.tex").read_text()
    assert "researcher's files hold aggregates only" in setup  # (pdftotext interleaves it)
    results_tex = (tmp_path / "paper" / "build" / "sections" / "results.tex").read_text()
    assert "None of these differences can be tested for significance" in results_tex
    assert "multiple of 1/430" in text and "call none of them significant" in text
    # The abstract names the re-analysis and the replication and gives the resolution limit
    # (its number from the generated macros, not typed in the test).
    abstract = (tmp_path / "paper" / "build" / "sections" / "abstract.tex").read_text()
    assert abstract.count("\\ReplAbstractSentence{}") == 1  # the replication's main number, generated
    sentence = re.search(r"\\newcommand\{\\ReplAbstractSentence\}\{(.*)\}$",
                         (tmp_path / "results" / "paper" / "replication_macros.tex").read_text(), re.M).group(1)
    assert sentence.startswith("In a controlled replication on BEIR SciFact with")
    limit = re.search(r"\\newcommand\{\\ResolutionLimit\}\{([0-9.]+)\}",
                      (tmp_path / "results" / "paper" / "analysis_macros.tex").read_text()).group(1)
    first = " ".join(pages_text[0].split())
    assert "re-analyses that study from its own outputs" in first
    assert f"smaller than about {limit} on the 43 queries" in first
    assert "controlled replication on BEIR SciFact" in first.replace("A controlled", "a controlled")
    assert "2,000,000" not in first  # the number of pairs is the brief's, not a fact
    # (Checked in the generated LaTeX: pdftotext interleaves the two columns around it.)
    comparison = (tmp_path / "results" / "paper" / "comparison.tex").read_text()
    assert "only where it ran at the smallest learning rate" in comparison and "confounded" in text
    # Published reference points, labelled as not reproduced (data/reference/points.tsv).
    assert "does not reproduce them" in text and "0.5058" in text and "0.7430" in text
    assert "all 18 runs score" in text  # above BM25 (pdftotext may interleave the columns here)
    # The committed SciFact replication (paper.replication: data/scifact): its section before
    # the discussion, the spread of a single-seed difference borrowed as an assumed scale.
    squeezed = re.sub(r"\s+", "", text).upper()  # small caps come out of pdftotext as "C ONTROLLED"
    assert "CONTROLLEDREPLICATIONONSCIFACT" in squeezed
    assert squeezed.index("CONTROLLEDREPLICATIONONSCIFACT") < squeezed.index("DISCUSSION")
    assert "The controlled replication (\\cref{sec:replication})" in comparison
    assert "an assumption across collections" in comparison and ("$s_d = " in comparison or "$s_d$ from " in comparison)
    assert "Neither fine-tuned reranker reaches BM25" in text and "By that definition, " in text  # the failure count
    assert "by at least 0.01" not in text and "matched comparisons" not in text
    # The original study's own documents, cited, with the facts the brief lacks.
    assert "A100 80GB" in text and "Hugging Face Hub" in text and "M.Tech. thesis" in text
    assert "cross-encoder-modal" in text and "52a21a78" in text
    # The reconciliation, counted from the generated TSV's values (not its status column).
    records = [line.split("\t") for line in
               (tmp_path / "results/reported/reconciliation.tsv").read_text().splitlines()[1:]]
    differing = [r for r in records if r[4] != four(float(r[5]))]
    assert len(records) == 108
    assert f"in {len(differing)} of 108 cells" in text  # the abstract
    # Facts of the files: the BM25 pool, the steps per epoch, the runids, the level.
    assert "2,814 of the 4,102 relevant passages" in text and "0.7389" in text
    assert "3,887" in text and "15,547" in text and "10,364" in text and "31,250" in text
    assert "runid is final in every epoch" in text
    assert "cannot be recovered from aggregate files" in setup
    # The supplement: built by the same target, clean, with what the paper leaves out.
    supplement = tmp_path / "paper" / "build" / "supplement" / "supplement.pdf"
    supplement_text = assert_clean_build(supplement)
    assert paper.repeated_phrases(paper.pdf_body_text(supplement)) == []
    supplement_squeezed = re.sub(r"\s+", "", supplement_text).upper()
    assert "ECONCILIATIONOFTHEBRIEF" in supplement_squeezed
    assert "RECIPESEARCHOFTHESCIFACTREPLICATION" in supplement_squeezed
    assert "Table S1" in text and "Table S3" in text  # the paper refers to the supplement's tables
    # None of the brief's values that differ from the files (unless the same number is also
    # one of the files' own values) in the paper; all of them in the supplement.
    forbidden = {r[4] for r in differing} - researcher_values()
    assert len(forbidden) >= 25  # 28 with the files of 2025-04
    for number, page in enumerate(pages_text, start=1):
        found = sorted(v for v in forbidden if v in page)
        assert not found, f"page {number} states the brief's values {found}"
    assert forbidden <= set(re.findall(r"\d\.\d{4}", supplement_text))


@needs_latex
@needs_researcher_files
def test_reported_paper_with_supplied_training_logs(tmp_path):
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["paper"]["training_logs"] = "logs-from-researcher"
    for optim in ("adamw", "lion"):
        path = tmp_path / "logs-from-researcher" / "modernbert" / optim / "trainer_state.json"
        write_trainer_state(path, final_loss=0.25, lr=2e-6)
    text = assert_clean_build(run_real_workflow(tmp_path, config))
    assert "Training dynamics" in text and "Fig. 3" in text


@needs_latex
@pytest.mark.parametrize("n_seeds", [2])
def test_toy_paper_builds_from_computed_table_with_training_logs(tmp_path, n_seeds):
    config = computed_config(n_seeds)
    results = tmp_path / "results"
    (results / "stats").mkdir(parents=True)
    (results / "table.tsv").write_text(COMPUTED_TSV, encoding="utf-8")
    rows = paper.read_results(results / "table.tsv")
    write_statistics(results / "stats", rows, n_seeds=n_seeds)
    for optim, loss in (("adamw", 0.25), ("lion", 0.3)):
        path = results / "models" / "modernbert" / optim / "seed12" / "trainer_state.json"
        write_trainer_state(path, final_loss=loss, lr=2e-6)
    pdf = run_paper_workflow(tmp_path, config)
    text = assert_clean_build(pdf)
    assert 6 <= page_count(pdf) <= 9
    first_page = pdf_text(pdf, 1)
    assert "Toy results" in first_page and "smoke configuration" in first_page
    assert "Training dynamics" in text and "0.2500 for AdamW" in text
    assert "BM25" in text and "0.5058" in text
    # The tests are used: method, markers, intervals, seed spread, generated sentences.
    assert "Statistical analysis" in text and "Holm" in text
    assert "cannot be computed from them" not in text
    assert "†" in text and "±" in text
    assert "paired randomization test" in text
    assert "Lion–AdamW comparisons" in text and "significantly above BM25" in text
    assert "[−0.0200, +0.0500]" in text  # an interval of the difference table
    assert "Every value is a mean over two seeds" in text
    # Configured authors and repository reach the title page, the metadata and the text.
    assert pdf_info(pdf)["Author"].strip() == "Ada Example"
    assert "Ada Example" in first_page and "Anonymous Authors" not in text
    assert "https://example.org/crossopt" in text
    assert "Reconciliation" not in text and "APPENDIX" not in text  # reported results only


def test_a_build_that_latexmk_left_asking_for_a_rerun_gets_a_forced_pass(tmp_path, monkeypatch):
    """latexmk can exit 0 while LaTeX's last log still asks for a rerun (it judges by the .aux,
    which did not change). build_pdf then forces a pass (-g). Here a stand-in latexmk on PATH
    plays that case: its first call leaves the warning, the forced one a clean log."""
    from crossopt import paper_build

    fake = tmp_path / "bin" / "latexmk"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho \"latexmk $*\"\nn=$(cat calls 2>/dev/null || echo 0); echo $((n + 1)) > calls\n"
                    "if [ \"$n\" = 0 ]; then echo 'LaTeX Warning: %s' > main.log; else echo clean > main.log; fi\n"
                    "touch main.pdf\n" % paper_build.RERUN_WARNING)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    build = tmp_path / "build"
    build.mkdir()
    (build / "main.tex").write_text("stand-in\n")
    assert paper_build.build_pdf(build, log_path=tmp_path / "latexmk.log") == build / "main.pdf"
    calls = [line for line in (tmp_path / "latexmk.log").read_text().splitlines() if line.startswith("latexmk")]
    assert calls == ["latexmk -pdf -interaction=nonstopmode -halt-on-error -file-line-error main.tex",
                     "latexmk -g -pdf -interaction=nonstopmode -halt-on-error -file-line-error main.tex"]


@needs_latex
def test_a_paper_whose_labels_never_settle_still_fails(tmp_path):
    """A label that takes a new random value on every pass: latexmk gives up after its
    maximum of passes, and build_pdf reports the failure (no forced pass after a failure)."""
    from crossopt import paper_build

    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\n\\begin{document}\n"
        "\\makeatletter\\immediate\\write\\@auxout{\\string\\newlabel{r}{{\\pdfuniformdeviate 100000}{1}}}"
        "\\makeatother\nSee \\ref{r}.\n\\end{document}\n")
    with pytest.raises(RuntimeError, match=r"(?s)latexmk failed.*Label\(s\) may have changed"):
        paper_build.build_pdf(tmp_path, log_path=tmp_path / "latexmk.log")
    assert (tmp_path / "latexmk.log").read_text().count("This is Latexmk") == 1
