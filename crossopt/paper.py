"""The paper's numbers and facts, generated from data: the results table's rows, the one
number formatter, LaTeX macros and switches, the config's facts, the optimizer
differences, the author block and the availability links.

Every number that reaches the LaTeX sources goes through `format_number`, and every table
or sentence that states a result is written from a results TSV or from the config. The
hand-written .tex files only `\\input` what the paper modules produce, so the paper
cannot disagree with the data it was built from. The other modules, by what they
produce: `paper_analysis` (the results' analysis), `paper_stats` (significance markers,
intervals and sentences of computed results), `paper_tables` (results, difference,
hyperparameter and model tables), `paper_reported` (the reconciliation with the brief),
`paper_build` (staging and latexmk). Their public names are re-exported here.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ID_COLUMNS = ("Base Model", "Optimizer", "Epoch")
MEASURES = ("NDCG@10", "MAP", "MRR@10", "Recall@10", "R-Prec", "P@10")
HEADER = ID_COLUMNS + MEASURES
BASELINE_MODEL = "BM25"
PRIMARY_MEASURE = "NDCG@10"

# How each measure is printed in tables and sentences.
MEASURE_LABELS = {
    "NDCG@10": "nDCG@10",
    "MAP": "MAP",
    "MRR@10": "MRR@10",
    "Recall@10": "R@10",
    "R-Prec": "R-Prec",
    "P@10": "P@10",
}
# Measures grouped by the test set they come from (the TSV interleaves them).
RANKING_MEASURES = ("NDCG@10", "MAP", "Recall@10", "R-Prec", "P@10")
MRR_MEASURES = ("MRR@10",)

# Short names of the config's schedules (crossopt.train.SCHEDULES has the long ones).
SCHEDULER_LABELS = {
    "trainer_default": "warm-up, linear",
    "constant": "constant",
    "constant_with_warmup": "warm-up, constant",
    "linear": "warm-up, linear",
    "cosine": "warm-up, cosine",
    "cosine_annealing": "cosine, no warm-up",
}


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ResultRow:
    """One line of a results TSV: a trained reranker at one epoch, or the BM25 baseline."""

    model: str
    optimizer: str
    epoch: int | None
    values: Mapping[str, float | None]

    @property
    def is_baseline(self) -> bool:
        return self.model == BASELINE_MODEL


def read_results(path: str | Path) -> list[ResultRow]:
    """Parse a results TSV in the brief's layout, failing loudly on anything unexpected.

    Empty cells are allowed only in the BM25 row (a measure may not apply to it); a
    reranker row with a missing value would silently drop out of every comparison.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, None)
        if header is None or tuple(header) != HEADER:
            raise ValueError(f"{path}:1: header must be {'<TAB>'.join(HEADER)!r}, got {header!r}")
        rows, seen = [], set()
        for line, fields in enumerate(reader, start=2):
            if not fields or all(not f.strip() for f in fields):
                continue
            row = _parse_row(fields, path, line)
            key = (row.model, row.optimizer, row.epoch)
            if key in seen:
                raise ValueError(f"{path}:{line}: duplicate row for {key}")
            seen.add(key)
            rows.append(row)
    if not any(not r.is_baseline for r in rows):
        raise ValueError(f"{path}: no reranker rows")
    return rows


def _parse_row(fields: list[str], path: Path, line: int) -> ResultRow:
    if len(fields) != len(HEADER):
        raise ValueError(f"{path}:{line}: expected {len(HEADER)} fields, got {len(fields)}")
    model, optimizer, epoch_text = (f.strip() for f in fields[:3])
    baseline = model == BASELINE_MODEL
    values: dict[str, float | None] = {}
    for measure, text in zip(MEASURES, fields[3:]):
        text = text.strip()
        if not text and baseline:
            values[measure] = None
            continue
        try:
            values[measure] = float(text)
        except ValueError:
            raise ValueError(f"{path}:{line}: {measure} is not a number: {text!r}") from None
    if baseline:
        return ResultRow(model, optimizer, None, values)
    try:
        epoch = int(epoch_text)
    except ValueError:
        raise ValueError(f"{path}:{line}: Epoch is not an integer: {epoch_text!r}") from None
    return ResultRow(model, optimizer, epoch, values)


def rerankers(rows: Iterable[ResultRow]) -> list[ResultRow]:
    """The trained systems, without the BM25 baseline."""
    return [r for r in rows if not r.is_baseline]


def baseline(rows: Iterable[ResultRow]) -> ResultRow | None:
    return next((r for r in rows if r.is_baseline), None)


def unique_in_order(items: Iterable[str]) -> list[str]:
    """Distinct items in first-seen order (the table's order is the reader's order)."""
    return list(dict.fromkeys(items))


# --------------------------------------------------------------------------- formatting


def format_number(value: float | int | None, *, style: str = "fixed", digits: int = 4,
                  signed: bool = False) -> str:
    """The one way a number becomes LaTeX text, so the paper is consistent everywhere.

    style "fixed": `digits` decimals (result values, differences); "int": grouped
    thousands; "sci": a power of ten in math mode (learning rates); "auto": the shortest
    faithful form for config values (0.999, 0.1, 64, 2e-05); "word": small counts spelled
    out as prose wants them ("three"), larger ones as "int". Missing values print as an
    en dash. With `signed`, positive values get a "+" so that differences read as such;
    a value that rounds to zero carries no sign.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "--"
    if style == "auto":
        if isinstance(value, bool):
            raise TypeError("format_number: booleans are not numbers")
        if float(value).is_integer() and abs(value) >= 1:
            style = "int"
        elif value != 0 and abs(value) < 1e-3:
            style = "sci"
        else:
            return _with_sign(f"{abs(value):g}", value, signed)
    if style == "fixed":
        rounded = round(float(value), digits)
        return _with_sign(f"{abs(rounded):.{digits}f}", rounded, signed)
    if style == "int":
        if not float(value).is_integer():
            raise ValueError(f"format_number: {value!r} is not an integer")
        return _with_sign(f"{abs(int(value)):,}".replace(",", "{,}"), value, signed)
    if style == "sci":
        return _scientific(float(value))
    if style == "word":
        if float(value).is_integer() and 0 <= value < len(_COUNT_WORDS):
            return _COUNT_WORDS[int(value)]
        return format_number(value, style="int")
    raise ValueError(f"format_number: unknown style {style!r}")


_COUNT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten")


def _with_sign(text: str, value: float, signed: bool) -> str:
    if value < 0 and float(text.replace("{,}", "")) != 0:
        return "$-$" + text
    if signed and value > 0 and float(text.replace("{,}", "")) != 0:
        return "+" + text
    return text


def _scientific(value: float) -> str:
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    mantissa = round(value / 10**exponent, 3)
    if abs(mantissa) >= 10:  # rounding carried into the next power
        mantissa, exponent = mantissa / 10, exponent + 1
    power = f"10^{{{exponent}}}"
    if mantissa == 1:
        return f"\\ensuremath{{{power}}}"
    return f"\\ensuremath{{{mantissa:g}\\times {power}}}"


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
    "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """Config strings (names, affiliations, hub ids) reach LaTeX verbatim only through here."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in str(text))


# --------------------------------------------------------------------------- macros

_NUMBER_WORDS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight",
                 "Nine", "Ten", "Eleven", "Twelve", "Thirteen", "Fourteen", "Fifteen",
                 "Sixteen", "Seventeen", "Eighteen", "Nineteen", "Twenty")
_MACRO_NAME = re.compile(r"^[A-Za-z]+$")


def macro_name(*parts: object) -> str:
    """A LaTeX macro name from readable parts: letters only, CamelCase.

    TeX control words cannot contain digits or punctuation, so "NDCG@10" becomes
    "NDCGAtTen" and epoch 2 becomes "Two".
    """
    words: list[str] = []
    for part in parts:
        text = str(part).replace("@", " at ")
        for token in re.findall(r"[A-Za-z]+|\d+", text):
            if token.isdigit():
                number = int(token)
                words.append(_NUMBER_WORDS[number] if number < len(_NUMBER_WORDS)
                             else "".join(_NUMBER_WORDS[int(d)] for d in token))
            else:
                words.append(token[0].upper() + token[1:])
    name = "".join(words)
    if not _MACRO_NAME.match(name):
        raise ValueError(f"macro_name: no letters in {parts!r}")
    return name


def render_macros(macros: Mapping[str, str], switches: Mapping[str, bool] = {}) -> str:
    """LaTeX text defining each macro once; switches set \\newif flags declared in main.tex."""
    lines = ["% Generated by crossopt.paper from data and config; do not edit."]
    for name, value in switches.items():
        _check_macro_name(name)
        lines.append(f"\\{name}{'true' if value else 'false'}")
    for name, value in macros.items():
        _check_macro_name(name)
        lines.append(f"\\newcommand{{\\{name}}}{{{value}}}")
    return "\n".join(lines) + "\n"


def _check_macro_name(name: str) -> None:
    if not _MACRO_NAME.match(name):
        raise ValueError(f"LaTeX macro name must be letters only: {name!r}")


# --------------------------------------------------------------------------- config facts


def _require(mapping: Mapping, key: str, where: str):
    try:
        return mapping[key]
    except KeyError:
        raise KeyError(f"config {where}: missing key {key!r}") from None


# The config sections the paper reads; rules pass only these, so unrelated config
# changes do not rebuild the paper. `statistics` matters to computed results only.
PAPER_CONFIG_KEYS = ("models", "optimizers", "study", "data", "training", "testsets", "table",
                     "paper", "statistics")


def paper_config(config: Mapping) -> dict:
    """The part of the validated config that the paper depends on (as rules/common.smk's
    _paper_config passes it)."""
    computed = config.get("paper", {}).get("results") == "computed"
    return {key: config[key] for key in PAPER_CONFIG_KEYS
            if key in config and (computed or key != "statistics")}


def measure_testsets(config: Mapping) -> tuple[str, str]:
    """Keys of the test sets behind the ranking measures and behind MRR@10 (table.columns)."""
    columns = _require(_require(config, "table", "config"), "columns", "table")
    ranking = _require(_require(columns, PRIMARY_MEASURE, "table.columns"), "testset",
                       f"table.columns.{PRIMARY_MEASURE}")
    mrr = _require(_require(columns, "MRR@10", "table.columns"), "testset",
                   "table.columns.MRR@10")
    return ranking, mrr


def protocol_facts(config: Mapping) -> dict[str, object]:
    """How the table's numbers were obtained: relevance level, test sets, candidate depth.

    In reported mode the relevance level is a fact about the researcher's trec_eval run
    (kept in the paper config); in computed mode it is whatever the workflow used.
    """
    paper, testsets = _require(config, "paper", "config"), _require(config, "testsets", "config")
    ranking_key, mrr_key = measure_testsets(config)
    ranking = _require(testsets, ranking_key, "testsets")
    mrr = _require(testsets, mrr_key, "testsets")
    where = f"testsets.{ranking_key}"
    level = (_require(paper, "reported_relevance_level", "paper")
             if _require(paper, "results", "paper") == "reported"
             else _require(ranking, "relevance_level", where))
    return {
        "relevance_level": int(level),
        "ranking_name": _require(ranking, "name", where),
        "mrr_name": _require(mrr, "name", f"testsets.{mrr_key}"),
        "depth": _require(_require(ranking, "retrieval", where), "depth", f"{where}.retrieval"),
    }


def trained_pairs(data: Mapping) -> int:
    """The pairs a run trains on: crossopt.data holds the first `heldout` shuffled pairs out."""
    return _require(data, "pairs", "data") - data.get("heldout", 0)


def config_macros(config: Mapping, runs: Mapping) -> dict[str, str]:
    """Macros for every configured setting the prose mentions (so none is retyped).

    `runs` maps model and optimizer keys to the settings of that training run (overrides
    applied), as crossopt.config.run_settings returns them.
    """
    facts = protocol_facts(config)
    study, training = _require(config, "study", "config"), _require(config, "training", "config")
    data = _require(config, "data", "config")
    models = _require(config, "models", "config")
    optimizers = _require(config, "optimizers", "config")
    seeds = list(_require(study, "seeds", "study"))
    macros = {
        "NumEpochs": format_number(_require(study, "epochs", "study"), style="int"),
        "NumSeeds": format_number(len(seeds), style="int"),
        "SeedList": ", ".join(format_number(s, style="int") for s in seeds),
        "SeedPhrase": ("a single seed" if len(seeds) == 1
                       else f"{format_number(len(seeds), style='int')} seeds"),
        "BatchSize": format_number(_require(training, "batch_size", "training"), style="int"),
        "NumPairs": format_number(_require(data, "pairs", "data"), style="int"),
        "NumHeldout": format_number(_require(data, "heldout", "data"), style="int"),
        "NumTrainPairs": format_number(trained_pairs(data), style="int"),
        "WarmupRatio": format_number(_require(training, "warmup_ratio", "training"), style="auto"),
        "Precision": "bf16" if _require(training, "bf16", "training") else "fp32",
        "RelLevel": format_number(facts["relevance_level"], style="int"),
        "RelLevelNote": relevance_level_note(facts["relevance_level"]),
        "CandidateDepth": format_number(facts["depth"], style="int"),
        "RankingTestSet": latex_escape(facts["ranking_name"]),
        "MrrTestSet": latex_escape(facts["mrr_name"]),
        "NumModels": format_number(len(models), style="word"),
        **availability_macros(config),
    }
    for key, spec in models.items():
        where = f"models.{key}"
        base = _require(runs, key, "runs")[next(iter(optimizers))]
        macros[macro_name("Model", key, "Name")] = latex_escape(_require(spec, "name", where))
        macros[macro_name("Model", key, "Lr")] = format_number(base["learning_rate"], style="sci")
        macros[macro_name("Model", key, "Schedule")] = SCHEDULER_LABELS[base["scheduler"]]
        macros[macro_name("Model", key, "MaxLen")] = format_number(
            _require(spec, "max_length", where), style="int")
    for key, spec in optimizers.items():
        where = f"optimizers.{key}"
        beta1, beta2 = _require(spec, "betas", where)
        macros[macro_name("Opt", key, "Name")] = latex_escape(_require(spec, "name", where))
        macros[macro_name("Opt", key, "BetaOne")] = format_number(beta1, style="auto")
        macros[macro_name("Opt", key, "BetaTwo")] = format_number(beta2, style="auto")
        macros[macro_name("Opt", key, "WeightDecay")] = format_number(
            _require(spec, "weight_decay", where), style="auto")
        if "eps" in spec:
            macros[macro_name("Opt", key, "Eps")] = format_number(spec["eps"], style="sci")
    return macros


def relevance_level_note(level: int) -> str:
    """What the binary measures' relevance level means for comparability with TREC."""
    if level == 2:
        return ("This matches the official track measures (\\texttt{-l 2} in "
                "trec\\_eval)~\\cite{craswell2019overview}.")
    official = ("the official track measures count only grades of 2 and above as relevant "
                "(\\texttt{-l 2})~\\cite{craswell2019overview}, so our binary measures "
                "differ from, and are not comparable with, values computed that way.")
    if level == 1:
        return "This is trec\\_eval's default; " + official
    return f"Grades below {format_number(level, style='int')} count as non-relevant; " + official


def compared_optimizers(optimizers: Mapping) -> tuple[str, str]:
    """Display names of (reference, candidate): the study compares Lion against AdamW."""
    return (_require(_require(optimizers, "adamw", "optimizers"), "name", "optimizers.adamw"),
            _require(_require(optimizers, "lion", "optimizers"), "name", "optimizers.lion"))


_COMPARED_SETTINGS = ("learning_rate", "scheduler", "weight_decay")


def shared_settings(runs: Mapping) -> bool:
    """True when, for every model, all optimizers train with the same learning rate,
    schedule and weight decay (the brief's setup: Lion as a drop-in replacement)."""
    for per_optim in runs.values():
        settings = {tuple(run[k] for k in _COMPARED_SETTINGS) for run in per_optim.values()}
        if len(settings) > 1:
            return False
    return True


def switches(config: Mapping, runs: Mapping, rows: Sequence[ResultRow]) -> dict[str, bool]:
    """Flags for text that exists only in some builds (toy notice, baseline sentences...)."""
    paper, training = _require(config, "paper", "config"), _require(config, "training", "config")
    reported = _require(paper, "results", "paper") == "reported"
    return {
        "toyresults": bool(paper.get("toy", False)),
        "baselinerow": baseline(rows) is not None,
        "computedresults": not reported,
        # Computed results over several seeds: the table shows mean and sd over seeds.
        "severalseeds": not reported and len(_require(_require(config, "study", "config"),
                                                      "seeds", "study")) > 1,
        "sharedsettings": shared_settings(runs),
        "decayall": bool(training.get("decay_bias_and_norm", True)),
        "bfsixteen": bool(training.get("bf16", False)),
        # The brief selected checkpoints on NanoBEIR; computed runs use the config's evaluator.
        "nanobeir": reported or training.get("evaluator", {}).get("type") == "nanobeir",
        # The researcher's reported runs ran on Modal (brief); computed ones say so in config.
        "modal": reported or training.get("backend") == "modal",
        # Published figures for the same queries (paper.reference_points), cited in the results.
        "referencepoints": bool(paper.get("reference_points")),
    }


# --------------------------------------------------------------------------- comparisons


@dataclass(frozen=True)
class Difference:
    """Candidate minus reference optimizer for one model, epoch and measure."""

    model: str
    epoch: int
    measure: str
    candidate: float
    reference: float

    @property
    def delta(self) -> float:
        # Values carry 4 decimals; rounding keeps float noise out of threshold tests.
        return round(self.candidate - self.reference, 6)


def matched_differences(rows: Sequence[ResultRow], reference: str, candidate: str,
                        measures: Sequence[str] = MEASURES) -> list[Difference]:
    """Every (model, epoch, measure) where both optimizers have a value."""
    index = {(r.model, r.optimizer, r.epoch): r for r in rerankers(rows)}
    out = []
    for model in unique_in_order(r.model for r in rerankers(rows)):
        epochs = sorted({r.epoch for r in rerankers(rows) if r.model == model})
        for epoch in epochs:
            ref, cand = index.get((model, reference, epoch)), index.get((model, candidate, epoch))
            if ref is None or cand is None:
                continue
            for measure in measures:
                out.append(Difference(model, epoch, measure, cand.values[measure],
                                      ref.values[measure]))
    return out


def best_cells(rows: Sequence[ResultRow], measure: str, digits: int = 4) -> list[ResultRow]:
    """All rows holding the best value as displayed (rounded to `digits`); ties share it."""
    shown = [(round(r.values[measure], digits), r) for r in rows
             if r.values[measure] is not None]
    if not shown:
        return []
    top = max(value for value, _ in shown)
    return [r for value, r in shown if value == top]


def _plural(count: int, word: str) -> str:
    return f"{format_number(count, style='int')} {word}{'' if count == 1 else 's'}"


def _count(count: int) -> str:
    """A count inside a sentence: 'none' reads better than '0'."""
    return "none" if count == 0 else format_number(count, style="int")


def _system(row: ResultRow) -> str:
    return f"{latex_escape(row.model)} with {latex_escape(row.optimizer)} at epoch " \
           f"{format_number(row.epoch, style='int')}"


def _join(items: Iterable[str]) -> str:
    """'a', 'a and b', 'a, b, and c'."""
    items = list(items)
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def result_macros(rows: Sequence[ResultRow], *, reference: str, candidate: str) -> dict[str, str]:
    """Macros for result numbers (the abstract's and conclusion's findings are
    crossopt.paper_analysis.finding_macros)."""
    macros: dict[str, str] = {}
    runs = rerankers(rows)
    for row in runs:
        for measure in MEASURES:
            name = macro_name("Res", row.model, row.optimizer, "Epoch", row.epoch, measure)
            macros[name] = format_number(row.values[measure])
    base = baseline(rows)
    if base is not None:
        for measure in MEASURES:
            macros[macro_name("Baseline", measure)] = format_number(base.values[measure])
    diffs = matched_differences(rows, reference, candidate)
    macros.update({
        "NumComparisons": format_number(len(diffs), style="int"),
        "NumResultEpochs": format_number(len({r.epoch for r in runs}), style="word"),
    })
    best = best_cells(runs, PRIMARY_MEASURE)
    macros["BestPrimaryValue"] = format_number(best[0].values[PRIMARY_MEASURE])
    macros["BestPrimarySystem"] = _join([_system(r) for r in best])
    return macros




ANONYMOUS = "Anonymous Authors"


def authors_block(authors: Sequence[Mapping] | None) -> str:
    r"""IEEEtran conference author blocks from config, separated by \and, and the PDF's
    author metadata. No authors (paper.authors unset) gives an anonymous block, as for
    double-blind review."""
    if authors is None:
        return (f"\\hypersetup{{pdfauthor={{{ANONYMOUS}}}}}\n"
                f"\\author{{\\IEEEauthorblockN{{{ANONYMOUS}}}}}\n")
    if not authors:
        raise ValueError("config paper.authors: give at least one author, or null for an "
                         "anonymous author block")
    blocks, names = [], []
    for i, author in enumerate(authors):
        where = f"paper.authors[{i}]"
        lines = [latex_escape(_require(author, "affiliation", where))]
        if author.get("email"):
            lines.append(f"\\texttt{{{latex_escape(author['email'])}}}")
        name = latex_escape(_require(author, "name", where))
        names.append(name)
        address = " \\\\ ".join(lines)
        blocks.append(f"\\IEEEauthorblockN{{{name}}}\n\\IEEEauthorblockA{{{address}}}")
    return (f"\\hypersetup{{pdfauthor={{{', '.join(names)}}}}}\n"
            + "\\author{" + "\n\\and\n".join(blocks) + "}\n")


def availability_macros(config: Mapping) -> dict[str, str]:
    """The availability statement's links: this workflow's repository and, for reported
    results, where the researcher's files came from (paper.repository_url, reported_origin)."""
    paper = _require(config, "paper", "config")
    url = paper.get("repository_url")
    origin = paper.get("reported_origin")
    return {
        "RepositoryLink": (f"\\url{{{url}}}" if url else
                           "a repository whose address is withheld for anonymous review"),
        "ReportedOrigin": (f"\\url{{{origin}}}" if origin else
                           "the researcher's repository"),
    }


# ---------------------------------------------------------------------------- re-exports
# `paper.<name>` also finds the public names of the other paper modules, loaded on first
# use (they import the names above, so they cannot be imported at the top of this module).
_OTHER_MODULES = {
    "crossopt.paper_stats": (
        "BASELINE_FAMILY", "BASELINE_SYSTEM", "CANDIDATE_KEY", "MARK_ABOVE", "MARK_BELOW",
        "MARK_OPTIMIZER", "MEANS_COLUMNS", "SIGNIFICANCE_COLUMNS", "TEST_NAMES", "PairedTest",
        "StudyStatistics", "SystemMean", "cell_key", "cell_marks", "check_statistics",
        "effect_clause", "load_statistics", "optimizer_family", "p_clause",
        "read_means", "read_significance", "significance_macros", "significance_summary",
        "significance_text", "significance_verdict", "system_row", "table_columns"),
    "crossopt.paper_tables": (
        "SOFTWARE", "TRAINER_MAX_GRAD_NORM", "difference_table", "hyperparameter_table",
        "models_table", "results_table", "software_versions"),
    "crossopt.paper_build": (
        "bibtex_problems", "build_pdf", "check_repeated_phrases", "latex_problems", "lost_spaces",
        "pdf_body_text", "pdf_sentences", "repeated_phrases", "repeated_sentences", "stage_sources"),
}


def __getattr__(name: str):
    import importlib

    for module, names in _OTHER_MODULES.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
