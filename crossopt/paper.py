"""The paper's numbers, tables and result sentences, generated from data.

Every number that reaches the LaTeX sources goes through `format_number`, and every table
or sentence that states a result is written here from a results TSV or from the config.
The hand-written .tex files only `\\input` what these functions produce, so the paper
cannot disagree with the data it was built from.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
import statistics
import subprocess
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


def _join(items: Sequence[str]) -> str:
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


def _baseline_sentence(runs: Sequence[ResultRow], base: ResultRow) -> str:
    label = MEASURE_LABELS[PRIMARY_MEASURE]
    above = sum(1 for r in runs if r.values[PRIMARY_MEASURE] > base.values[PRIMARY_MEASURE])
    return (f"The BM25 candidate ranking scores {format_number(base.values[PRIMARY_MEASURE])} "
            f"{label}; {_count(above)} of the "
            f"{format_number(len(runs), style='int')} reranked runs score higher.")


# --------------------------------------------------------------------------- significance
#
# In computed mode the workflow's statistics rule (crossopt.significance) writes
# results/stats/significance.tsv (one paired comparison per row) and means.tsv (one
# system and table column per row). The paper reads both, keys every row to a cell of
# the results table, and refuses files that do not match the table, so a marker can
# never sit on the wrong cell or be silently missing.

SIGNIFICANCE_COLUMNS = ("family", "testset", "measure", "system_a", "system_b", "n",
                        "n_dropped", "dropped", "mean_a", "mean_b", "diff", "ci_low", "ci_high",
                        "d_z", "t", "p_t", "p_perm", "p_t_holm", "p_perm_holm", "test", "alpha",
                        "significant")
MEANS_COLUMNS = ("column", "testset", "measure", "system", "n_queries", "n_seeds", "mean",
                 "ci_low", "ci_high", "seed_sd")
BASELINE_SYSTEM = "bm25"  # the BM25 label in the statistics files
BASELINE_FAMILY = "vs_bm25"
CANDIDATE_KEY = "lion"  # the optimizer the study puts against the baseline optimizer
TEST_NAMES = {"perm": "paired randomization test", "t": "paired t-test"}
# Table markers; the macros are defined in main.tex so captions can show the same glyphs.
MARK_OPTIMIZER = r"\sigopt"
MARK_ABOVE = r"\sigabove"
MARK_BELOW = r"\sigbelow"
# Table values carry 4 decimals: a difference of two of them is off by at most 1e-4.
_ROUNDING = 1e-4 + 1e-9

Cell = tuple  # (model, optimizer, epoch, column) in display names; ("BM25", "", None, col)


@dataclass(frozen=True)
class PairedTest:
    """One row of significance.tsv: system_a against system_b on one measure (diff = a - b)."""

    family: str
    testset: str
    measure: str
    system_a: str
    system_b: str
    n: int
    n_dropped: int
    diff: float
    ci_low: float
    ci_high: float
    d_z: float  # mean / sd of the per-query differences; +-inf for a constant shift
    p_t: float
    p_perm: float
    p_t_holm: float
    p_perm_holm: float
    test: str
    alpha: float
    significant: bool

    @property
    def p_raw(self) -> float:
        """Unadjusted p-value of the deciding test."""
        return self.p_perm if self.test == "perm" else self.p_t

    @property
    def p_adjusted(self) -> float:
        """Holm-adjusted p-value of the deciding test (the one `significant` rests on)."""
        return self.p_perm_holm if self.test == "perm" else self.p_t_holm

    @property
    def other_significant(self) -> bool:
        """Would the other test, Holm-adjusted, also reject at alpha?"""
        other = self.p_t_holm if self.test == "perm" else self.p_perm_holm
        return other <= self.alpha


@dataclass(frozen=True)
class SystemMean:
    """One row of means.tsv: a system's mean on one measure, its bootstrap CI, seed spread."""

    testset: str
    measure: str
    system: str
    n_queries: int
    n_seeds: int
    mean: float
    ci_low: float
    ci_high: float
    seed_sd: float  # NaN with a single seed (and for BM25, which has none)


def _read_records(path: str | Path, columns: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """(line number, record) for each data line of a TSV that has at least `columns`."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = [c for c in columns if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path}:1: missing column(s) {missing}")
        records = [(line, rec) for line, rec in enumerate(reader, start=2)
                   if any((v or "").strip() for v in rec.values())]
    if not records:
        raise ValueError(f"{path}: no data rows")
    return records


def _field(record: Mapping[str, str], key: str, where: str, kind=float, *,
           optional: bool = False):
    text = (record.get(key) or "").strip()
    if optional and text.lower() in ("", "nan"):
        return math.nan
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{where}: {key} is not a {kind.__name__}: {text!r}") from None
    if kind is float and not optional and not math.isfinite(value):
        raise ValueError(f"{where}: {key} is not finite: {text!r}")
    return value


def read_significance(path: str | Path) -> list[PairedTest]:
    """Parse significance.tsv, failing with file and line on anything malformed."""
    tests = []
    for line, rec in _read_records(path, SIGNIFICANCE_COLUMNS):
        where = f"{path}:{line}"
        significant = (rec["significant"] or "").strip().lower()
        if significant not in ("yes", "no"):
            raise ValueError(f"{where}: significant must be yes or no, got {significant!r}")
        test = (rec["test"] or "").strip()
        if test not in TEST_NAMES:
            raise ValueError(f"{where}: test must be one of {sorted(TEST_NAMES)}, got {test!r}")
        tests.append(PairedTest(
            family=rec["family"].strip(), testset=rec["testset"].strip(),
            measure=rec["measure"].strip(), system_a=rec["system_a"].strip(),
            system_b=rec["system_b"].strip(), n=_field(rec, "n", where, int),
            n_dropped=_field(rec, "n_dropped", where, int),
            d_z=_field(rec, "d_z", where, optional=True),
            **{key: _field(rec, key, where) for key in (
                "diff", "ci_low", "ci_high", "p_t", "p_perm", "p_t_holm", "p_perm_holm",
                "alpha")},
            test=test, significant=significant == "yes"))
    return tests


def read_means(path: str | Path) -> list[SystemMean]:
    """Parse means.tsv (per system and table column: mean, bootstrap CI, seed sd)."""
    means = []
    for line, rec in _read_records(path, MEANS_COLUMNS):
        where = f"{path}:{line}"
        means.append(SystemMean(
            testset=rec["testset"].strip(), measure=rec["measure"].strip(),
            system=rec["system"].strip(), n_queries=_field(rec, "n_queries", where, int),
            n_seeds=_field(rec, "n_seeds", where, int), mean=_field(rec, "mean", where),
            ci_low=_field(rec, "ci_low", where), ci_high=_field(rec, "ci_high", where),
            seed_sd=_field(rec, "seed_sd", where, optional=True)))
    return means


def table_columns(config: Mapping) -> dict[tuple[str, str], list[str]]:
    """(test set, measure) -> the results-table columns showing it (config table.columns)."""
    columns = _require(_require(config, "table", "config"), "columns", "table")
    out: dict[tuple[str, str], list[str]] = {}
    for name in MEASURES:
        spec = _require(columns, name, "table.columns")
        key = (_require(spec, "testset", f"table.columns.{name}"),
               _require(spec, "measure", f"table.columns.{name}"))
        out.setdefault(key, []).append(name)
    return out


_EPOCH_LABEL = re.compile(r"^epoch(\d+)$")


def system_row(label: str, config: Mapping) -> tuple[str, str, int | None]:
    """(model, optimizer, epoch) display names of a statistics label such as
    'minilm/lion/epoch2'; ('BM25', '', None) for the BM25 baseline."""
    if label == BASELINE_SYSTEM:
        return BASELINE_MODEL, "", None
    parts = label.split("/")
    match = _EPOCH_LABEL.match(parts[-1]) if len(parts) == 3 else None
    models, optimizers = config["models"], config["optimizers"]
    if match is None or parts[0] not in models or parts[1] not in optimizers:
        raise ValueError(f"system label {label!r} is not model/optimizer/epochN with a model "
                         f"and optimizer key of the config")
    return models[parts[0]]["name"], optimizers[parts[1]]["name"], int(match.group(1))


def cell_key(row: ResultRow, column: str) -> Cell:
    """The key of a results-table cell, shared by the table and the statistics."""
    if row.is_baseline:
        return (BASELINE_MODEL, "", None, column)
    return (row.model, row.optimizer, row.epoch, column)


def mean_intervals(means: Iterable[SystemMean], config: Mapping) -> dict[Cell, tuple[float, float]]:
    """Bootstrap interval of every system's mean, keyed like the table's cells."""
    columns = table_columns(config)
    out = {}
    for m in means:
        model, optimizer, epoch = system_row(m.system, config)
        for column in columns.get((m.testset, m.measure), []):
            out[(model, optimizer, epoch, column)] = (m.ci_low, m.ci_high)
    return out


@dataclass(frozen=True)
class StudyStatistics:
    """The per-query statistics behind a computed paper, keyed to results-table cells."""

    optimizer_tests: Mapping  # Cell of the candidate (Lion) run -> its test against AdamW
    baseline_tests: Mapping  # Cell of a reranked run -> its test against BM25
    means: Mapping  # Cell -> SystemMean
    family: str  # name of the optimizer family in significance.tsv
    family_sizes: Mapping  # family -> number of comparisons Holm corrected over
    alpha: float
    test: str
    permutations: int
    bootstrap_resamples: int
    confidence: float
    seed: int
    n_seeds: int

    @property
    def test_name(self) -> str:
        return TEST_NAMES[self.test]

    @property
    def other_test_name(self) -> str:
        return next(name for key, name in TEST_NAMES.items() if key != self.test)


def optimizer_family(config: Mapping) -> str:
    """Name of the family of candidate-vs-reference tests (crossopt.significance names it)."""
    settings = _require(config, "statistics", "config")
    reference = settings.get("baseline_optimizer", "adamw")
    if reference != "adamw":
        raise ValueError(f"config statistics.baseline_optimizer is {reference!r}; the paper "
                         "compares Lion against AdamW, so it must be 'adamw'")
    return f"{CANDIDATE_KEY}_vs_{reference}"


def load_statistics(significance: str | Path, means: str | Path,
                    config: Mapping) -> StudyStatistics:
    """Read both statistics files and key them to table cells.

    Raises when the files disagree with the config (alpha, test, seeds) or name a
    comparison the paper does not make: a stale file must fail the build, not mislabel
    the table.
    """
    settings = _require(config, "statistics", "config")
    family = optimizer_family(config)
    reference, candidate = compared_optimizers(_require(config, "optimizers", "config"))
    columns = table_columns(config)
    alpha = float(_require(settings, "alpha", "statistics"))
    test = _require(settings, "test", "statistics")
    tests = read_significance(significance)
    optimizer_tests: dict[Cell, PairedTest] = {}
    baseline_tests: dict[Cell, PairedTest] = {}
    sizes: dict[str, int] = {}
    for t in tests:
        sizes[t.family] = sizes.get(t.family, 0) + 1
        if t.family not in (family, BASELINE_FAMILY):
            continue  # a third optimizer's family: not a claim of this paper
        where = f"{significance}: {t.system_a} vs {t.system_b}, {t.measure} on {t.testset}"
        if t.test != test or not math.isclose(t.alpha, alpha):
            raise ValueError(f"{where}: decided by {t.test} at alpha {t.alpha:g}, but config "
                             f"statistics says {test} at {alpha:g}; the file is stale")
        if (t.testset, t.measure) not in columns:
            raise ValueError(f"{where}: no results-table column shows this measure")
        model, optimizer, epoch = system_row(t.system_a, config)
        other = system_row(t.system_b, config)
        expected = ((model, reference, epoch) if t.family == family
                    else (BASELINE_MODEL, "", None))
        if optimizer == "" or other != expected or (t.family == family and optimizer != candidate):
            raise ValueError(f"{where}: not a comparison of family {t.family}")
        target = optimizer_tests if t.family == family else baseline_tests
        for column in columns[(t.testset, t.measure)]:
            key = (model, optimizer, epoch, column)
            if key in target:
                raise ValueError(f"{where}: listed twice")
            target[key] = t
    if family not in sizes:
        raise ValueError(f"{significance}: no {family} comparisons")
    cells: dict[Cell, SystemMean] = {}
    for m in read_means(means):
        model, optimizer, epoch = system_row(m.system, config)
        for column in columns.get((m.testset, m.measure), []):
            cells[(model, optimizer, epoch, column)] = m
    seeds = len(_require(_require(config, "study", "config"), "seeds", "study"))
    counted = {m.n_seeds for key, m in cells.items() if key[0] != BASELINE_MODEL}
    if counted != {seeds}:
        raise ValueError(f"{means}: systems averaged over {sorted(counted)} seeds, but config "
                         f"study.seeds has {seeds}; the file is stale")
    return StudyStatistics(
        optimizer_tests=optimizer_tests, baseline_tests=baseline_tests, means=cells,
        family=family, family_sizes=sizes, alpha=alpha, test=test,
        permutations=int(_require(settings, "permutations", "statistics")),
        bootstrap_resamples=int(_require(settings, "bootstrap_resamples", "statistics")),
        confidence=float(_require(settings, "confidence", "statistics")),
        seed=int(_require(settings, "seed", "statistics")), n_seeds=seeds)


def check_statistics(stats: StudyStatistics, rows: Sequence[ResultRow], *, reference: str,
                     candidate: str) -> None:
    """The statistics must cover exactly the table's cells, and agree with its values.

    Every candidate cell needs its optimizer test, every reranker cell whose column has
    a BM25 value its baseline test, and every cell a mean; a test of a cell the table
    lacks, or a difference that disagrees with the table beyond rounding, means the
    two files come from different runs.
    """
    index = {(r.model, r.optimizer, r.epoch): r for r in rerankers(rows)}
    base = baseline(rows)
    want_opt, want_base, want_mean = set(), set(), set()
    for row in rerankers(rows):
        for column in MEASURES:
            key = cell_key(row, column)
            want_mean.add(key)
            if row.optimizer == candidate and (row.model, reference, row.epoch) in index:
                want_opt.add(key)
            if stats.baseline_tests and base is not None and base.values[column] is not None:
                want_base.add(key)
    problems = []
    for name, want, have in (("Lion-vs-AdamW test", want_opt, set(stats.optimizer_tests)),
                             ("BM25 test", want_base, set(stats.baseline_tests))):
        for key in sorted(want - have, key=str)[:5]:
            problems.append(f"no {name} for {key}")
        for key in sorted(have - want, key=str)[:5]:
            problems.append(f"{name} for {key}, which the table does not have")
    for key in sorted(want_mean - set(stats.means), key=str)[:5]:
        problems.append(f"no mean for {key}")
    for key in sorted(want_opt & set(stats.optimizer_tests), key=str):
        model, _, epoch, column = key
        shown = index[(model, candidate, epoch)].values[column] \
            - index[(model, reference, epoch)].values[column]
        if abs(stats.optimizer_tests[key].diff - shown) > _ROUNDING:
            problems.append(f"{key}: tested difference {stats.optimizer_tests[key].diff:.6f} "
                            f"but the table shows {shown:.4f}")
    if problems:
        raise ValueError("the statistics do not match the results table:\n  "
                         + "\n  ".join(problems))


def cell_marks(stats: StudyStatistics | None, key: Cell) -> str:
    """Marker macros for one cell: significant against the reference optimizer, and
    significantly above or below BM25 (Holm-adjusted, at the configured alpha)."""
    if stats is None:
        return ""
    marks = []
    test = stats.optimizer_tests.get(key)
    if test is not None and test.significant:
        marks.append(MARK_OPTIMIZER)
    test = stats.baseline_tests.get(key)
    if test is not None and test.significant:
        marks.append(MARK_ABOVE if test.diff > 0 else MARK_BELOW)
    return "".join(marks)


def _percent(level: float) -> str:
    return format_number(round(level * 100, 6), style="auto")


def _interval(low: float, high: float) -> str:
    return f"[{format_number(low, signed=True)}, {format_number(high, signed=True)}]"


def p_clause(p: float, name: str = "p") -> str:
    """'$p = 0.012$', or '$p < 0.001$' below what three decimals can show."""
    if p < 0.001:
        return f"${name} < 0.001$"
    return f"${name} = {format_number(p, digits=3)}$"


def _family_shape(tests: Iterable[PairedTest]) -> str:
    """'3 models x 3 epochs x 6 measures' for a family, counted from its tests."""
    tests = list(tests)
    models = {t.system_a.split("/")[0] for t in tests}
    epochs = {t.system_a.split("/")[-1] for t in tests}
    optimizers = {t.system_a.split("/")[1] for t in tests}
    measures = {(t.testset, t.measure) for t in tests}
    parts = [_plural(len(models), "model")]
    if len(optimizers) > 1:
        parts.append(_plural(len(optimizers), "optimizer"))
    parts += [_plural(len(epochs), "epoch"), _plural(len(measures), "measure")]
    return " $\\times$ ".join(parts)


def _unique_tests(tests: Mapping) -> list[PairedTest]:
    """Each test once (a test set and measure may back two columns), in table order."""
    return list({id(t): t for t in tests.values()}.values())


def significance_macros(stats: StudyStatistics, rows: Sequence[ResultRow], *, reference: str,
                        candidate: str) -> dict[str, str]:
    """Numbers and sentences of the statistical analysis, for the text around the tables."""
    opt = _unique_tests(stats.optimizer_tests)
    base = _unique_tests(stats.baseline_tests)
    sig = [t for t in opt if t.significant]
    macros = {
        "SigAlpha": format_number(stats.alpha, style="auto"),
        "SigTestName": stats.test_name,
        "SigOtherTestName": stats.other_test_name,
        "NumPermutations": format_number(stats.permutations, style="int"),
        "NumBootstrap": format_number(stats.bootstrap_resamples, style="int"),
        "ConfidencePct": _percent(stats.confidence),
        "StatSeed": format_number(stats.seed, style="int"),
        "NumOptFamily": format_number(stats.family_sizes[stats.family], style="int"),
        "OptFamilyShape": _family_shape(opt),
        "NumOptSignificant": format_number(len(sig), style="int"),
        "NumBaseFamily": format_number(stats.family_sizes.get(BASELINE_FAMILY, 0), style="int"),
        "SignificanceSummary": significance_summary(stats, reference=reference,
                                                    candidate=candidate),
        "SignificanceVerdict": significance_verdict(stats, reference=reference,
                                                    candidate=candidate),
    }
    if base:
        macros["BaseFamilyShape"] = _family_shape(base)
    return macros


def _directions(tests: Iterable[PairedTest]) -> tuple[int, int]:
    """(significant with diff > 0, significant with diff < 0)."""
    tests = [t for t in tests if t.significant]
    return sum(t.diff > 0 for t in tests), sum(t.diff < 0 for t in tests)


def significance_summary(stats: StudyStatistics, *, reference: str, candidate: str) -> str:
    """One sentence for the abstract and conclusion: how many optimizer differences hold up."""
    opt = _unique_tests(stats.optimizer_tests)
    up, down = _directions(opt)
    n = format_number(stats.family_sizes[stats.family], style="int")
    head = (f"after Holm's correction over the {n} comparisons, the {stats.test_name} at "
            f"$\\alpha = {format_number(stats.alpha, style='auto')}$ finds ")
    if up + down == 0:
        return head + "none of the differences significant"
    return (head + f"{_plural(up + down, 'significant difference')}, "
            f"{_count(up)} in favour of {latex_escape(candidate)} and {_count(down)} in favour "
            f"of {latex_escape(reference)}")


def significance_verdict(stats: StudyStatistics, *, reference: str, candidate: str) -> str:
    """The discussion's reading of the tests, chosen by their outcome."""
    opt = _unique_tests(stats.optimizer_tests)
    up, down = _directions(opt)
    n = format_number(len(opt), style="int")
    cand, ref = latex_escape(candidate), latex_escape(reference)
    if up + down == 0:
        return (f"None of the {n} matched differences is significant after correction for "
                f"multiple comparisons, so the data do not show that either optimizer yields "
                f"a better reranker.")
    if up and down:
        return (f"The significant differences point both ways ({_count(up)} favour {cand}, "
                f"{_count(down)} favour {ref}), so even the differences that survive the "
                f"correction do not add up to an advantage of one optimizer.")
    winner = cand if up else ref
    return (f"All {_plural(up + down, 'significant difference')} favour {winner}, out of "
            f"{n} comparisons; they are evidence for {winner} in those settings only, not "
            f"for every model, epoch and measure.")


def effect_clause(d_z: float) -> str:
    """'$d_z = 0.42$' (two decimals), with the infinite limit of a constant shift spelled out."""
    if math.isnan(d_z):
        return "$d_z$ undefined"
    if math.isinf(d_z):
        return f"$d_z = {'-' if d_z < 0 else ''}\\infty$"
    return f"$d_z = {format_number(d_z, digits=2).replace('$-$', '-')}$"


def _test_phrase(t: PairedTest, stats: StudyStatistics, rows_label: str) -> str:
    return (f"{rows_label} ({format_number(t.diff, signed=True)}, {effect_clause(t.d_z)}, "
            f"{_percent(stats.confidence)}\\% CI {_interval(t.ci_low, t.ci_high)}, adjusted "
            f"{p_clause(t.p_adjusted)})")


def significance_text(stats: StudyStatistics, rows: Sequence[ResultRow], *, reference: str,
                      candidate: str, diff_label: str = "tab:diff",
                      results_label: str = "tab:results", max_listed: int = 6) -> str:
    """The results section's paragraphs on the tests, written from significance.tsv."""
    cand, ref = latex_escape(candidate), latex_escape(reference)
    alpha = format_number(stats.alpha, style="auto")
    opt = _unique_tests(stats.optimizer_tests)
    sig = sorted((t for t in opt if t.significant), key=lambda t: (t.p_adjusted, -abs(t.diff)))
    raw = sum(t.p_raw <= stats.alpha for t in opt)
    agree = sum(t.other_significant == t.significant for t in opt)
    n = format_number(len(opt), style="int")
    text = (f"\\emph{{Significance.}} The {n} {cand}--{ref} comparisons of "
            f"\\cref{{{diff_label}}} ({_family_shape(opt)}) form one family for Holm's "
            f"correction. Before the correction, {_count(raw)} of them would have "
            f"$p \\le {alpha}$ under the {stats.test_name}; after it, ")
    if not sig:
        text += f"none is significant at $\\alpha = {alpha}$."
    else:
        up, down = _directions(sig)
        text += (f"{_count(len(sig))} {'is' if len(sig) == 1 else 'are'} significant at "
                 f"$\\alpha = {alpha}$ ({_count(up)} in favour of {cand}, {_count(down)} of "
                 f"{ref}), marked~$^{{\\sigopt}}$ in \\cref{{{results_label},{diff_label}}}: ")
        listed = [_test_phrase(t, stats, _test_label(t, stats)) for t in sig[:max_listed]]
        text += "; ".join(listed)
        if len(sig) > max_listed:
            text += f"; and {format_number(len(sig) - max_listed, style='int')} more"
        text += "."
    text += (f" The {stats.other_test_name}, corrected the same way, reaches the same decision "
             f"in {format_number(agree, style='int')} of the {n} comparisons.")
    text += " " + _interval_sentence(stats, opt)
    excluding = sum(t.ci_low > 0 or t.ci_high < 0 for t in opt)
    if excluding > len(sig):
        more = (f", more than the {format_number(raw, style='int')} uncorrected tests with "
                f"$p \\le {alpha}$" if excluding > raw else "")
        text += (f" The intervals are not adjusted for the {n} comparisons: "
                 f"{format_number(excluding, style='int')} of them exclude zero{more}. They "
                 f"describe the uncertainty of each difference and are no substitute for the "
                 f"corrected test.")
    paragraphs = [text]
    base = _unique_tests(stats.baseline_tests)
    if base:
        up, down = _directions(base)
        above = f"{_count(up)} {'is' if up == 1 else 'are'} significantly above BM25"
        above += " (marked~$^{\\sigabove}$)" if up else ""
        below = f"{_count(down)} significantly below"
        below += " ($^{\\sigbelow}$)" if down else ""
        paragraphs.append(
            f"The {format_number(len(base), style='int')} comparisons of every reranked run "
            f"with the BM25 ranking it reorders, on each measure that BM25 has "
            f"({_family_shape(base)}), form a second Holm family: {above}, {below}, "
            f"and {format_number(len(base) - up - down, style='int')} cannot be told apart "
            f"from BM25 at $\\alpha = {alpha}$.")
    paragraphs.append(_seed_sentence(stats, rows, reference=reference, candidate=candidate))
    dropped = [t for t in _unique_tests(stats.optimizer_tests) + base if t.n_dropped]
    if dropped:
        paragraphs[-1] += (f" In {_plural(len(dropped), 'comparison')}, queries missing from "
                           f"one of the two runs were left out of the pairing.")
    return "\n\n".join(p for p in paragraphs if p) + "\n"


def _test_label(t: PairedTest, stats: StudyStatistics) -> str:
    """'nDCG@10 of MiniLM-L12-H384 at epoch 1' for a test of the optimizer family."""
    key = next(k for k, v in stats.optimizer_tests.items() if v is t)
    model, _, epoch, column = key
    return (f"{MEASURE_LABELS[column]} of {latex_escape(model)} at epoch "
            f"{format_number(epoch, style='int')}")


def _interval_sentence(stats: StudyStatistics, opt: Sequence[PairedTest]) -> str:
    """How wide the difference intervals are: the resolution of the comparison."""
    primary = [t for k, t in stats.optimizer_tests.items() if k[3] == PRIMARY_MEASURE]
    if not primary:
        return ""
    widths = [t.ci_high - t.ci_low for t in primary]
    label = MEASURE_LABELS[PRIMARY_MEASURE]
    queries = format_number(max(t.n for t in primary), style="int")
    return (f"On {label}, the {_percent(stats.confidence)}\\% bootstrap intervals of the "
            f"differences are between {format_number(min(widths))} and "
            f"{format_number(max(widths))} wide (median "
            f"{format_number(statistics.median(widths))}) over {queries} queries, so a "
            f"difference much smaller than half that width cannot be resolved by this test "
            f"collection.")


def _seed_sentence(stats: StudyStatistics, rows: Sequence[ResultRow], *, reference: str,
                   candidate: str) -> str:
    """With several seeds: seed spread against the optimizer differences; else say there is none."""
    label = MEASURE_LABELS[PRIMARY_MEASURE]
    if stats.n_seeds == 1:
        return ("With a single seed per configuration, these tests capture the variation "
                "across queries only, not the variation between training runs.")
    sds = [m.seed_sd for (model, _, _, column), m in stats.means.items()
           if column == PRIMARY_MEASURE and model != BASELINE_MODEL and math.isfinite(m.seed_sd)]
    diffs = [abs(d.delta) for d in matched_differences(rows, reference, candidate)
             if d.measure == PRIMARY_MEASURE]
    if not sds or not diffs:
        return ""
    return (f"Every value is a mean over {format_number(stats.n_seeds, style='word')} seeds, "
            f"and the tests pair queries on their per-query means over seeds. The standard "
            f"deviation of {label} over seeds is at most {format_number(max(sds))} for a single "
            f"configuration (median {format_number(statistics.median(sds))}), against a median "
            f"absolute {latex_escape(candidate)}--{latex_escape(reference)} difference of "
            f"{format_number(statistics.median(diffs))} at matched epochs.")



# --------------------------------------------------------------------------- tables


def _bold(text: str, bold: bool) -> str:
    return f"\\textbf{{{text}}}" if bold else text


def results_table(rows: Sequence[ResultRow], *, ranking_name: str,
                  stats: StudyStatistics | None = None) -> str:
    """The main results tabular: grouped by model, then optimizer; best per column in bold.

    The ranking measures sit under their test set's name; MRR@10 comes last, and the
    caption names its test set (such names are too long for one narrow column).
    Bold compares the values as printed (4 decimals), so every cell that shows the top
    value is bold, ties included. With `stats` (computed results), each cell carries its
    significance markers (`cell_marks`) in a fixed-width box, so numbers stay aligned,
    and with several seeds the standard deviation over seeds.
    """
    measures = list(RANKING_MEASURES + MRR_MEASURES)
    best = {m: {id(r) for r in best_cells(rows, m)} for m in measures}
    ncols = 2 + len(measures)
    span = len(RANKING_MEASURES)
    lines = [f"\\begin{{tabular}}{{@{{}}ll{'c' * len(measures)}@{{}}}}", "\\toprule",
             f" & & \\multicolumn{{{span}}}{{c}}{{{latex_escape(ranking_name)}}} &" + r" \\"
             + f" \\cmidrule(l{{2pt}}r{{2pt}}){{3-{2 + span}}}",
             "Optimizer & Ep. & " + " & ".join(MEASURE_LABELS[m] for m in measures) + r" \\"]
    base = baseline(rows)
    if base is not None:
        lines += ["\\midrule", _table_row(base, measures, best, first=latex_escape(base.model),
                                          epoch="--", stats=stats)]
    for model in unique_in_order(r.model for r in rerankers(rows)):
        lines += ["\\midrule", _model_header(model, ncols)]
        optimizers = unique_in_order(r.optimizer for r in rerankers(rows) if r.model == model)
        for i, optimizer in enumerate(optimizers):
            own = sorted((r for r in rerankers(rows)
                          if r.model == model and r.optimizer == optimizer), key=lambda r: r.epoch)
            if i:
                lines.append("\\addlinespace[2pt]")
            for j, row in enumerate(own):
                lines.append(_table_row(row, measures, best,
                                        first=latex_escape(optimizer) if j == 0 else "",
                                        epoch=format_number(row.epoch, style="int"),
                                        stats=stats))
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def _model_header(model: str, ncols: int) -> str:
    """A group row naming the model, spanning the table."""
    return f"\\multicolumn{{{ncols}}}{{@{{}}l}}{{\\emph{{{latex_escape(model)}}}}}" + r" \\"


def _table_row(row: ResultRow, measures, best, *, first: str, epoch: str,
               stats: StudyStatistics | None = None) -> str:
    cells = [first, epoch]
    for m in measures:
        cell = _bold(format_number(row.values[m]), id(row) in best[m])
        if stats is not None:
            key = cell_key(row, m)
            cell += f"\\sigmarks{{{cell_marks(stats, key)}}}"
            if stats.n_seeds > 1:
                mean = stats.means.get(key)
                sd = mean.seed_sd if mean is not None else math.nan
                cell += (f"\\seedsd{{{format_number(sd)}}}" if math.isfinite(sd)
                         else "\\seedsdnone")
        cells.append(cell)
    return " & ".join(cells) + r" \\"


def difference_table(rows: Sequence[ResultRow], *, reference: str, candidate: str,
                     stats: StudyStatistics | None = None) -> str:
    """Candidate minus reference at matched epochs, signed, four decimals. Nothing is set in
    bold: no one threshold separates a lead from noise across measures of different
    resolution (crossopt.paper_analysis).

    With `stats`, a difference that is significant after Holm's correction carries the
    optimizer marker, and a line below each epoch gives the bootstrap interval of
    every difference.
    """
    measures = list(RANKING_MEASURES + MRR_MEASURES)
    diffs = {(d.model, d.epoch, d.measure): d
             for d in matched_differences(rows, reference, candidate, measures)}
    ncols = 1 + len(measures)
    lines = [f"\\begin{{tabular}}{{@{{}}l{'c' * len(measures)}@{{}}}}", "\\toprule",
             "Ep. & " + " & ".join(MEASURE_LABELS[m] for m in measures) + r" \\"]
    for model in unique_in_order(d[0] for d in diffs):
        lines += ["\\midrule", _model_header(model, ncols)]
        for epoch in sorted({d[1] for d in diffs if d[0] == model}):
            cells, intervals = [format_number(epoch, style="int")], [""]
            for m in measures:
                d = diffs[(model, epoch, m)]
                cell = format_number(d.delta, signed=True)
                if stats is not None:
                    test = stats.optimizer_tests[(model, candidate, epoch, m)]
                    cell += f"\\sigmarks{{{MARK_OPTIMIZER if test.significant else ''}}}"
                    intervals.append(f"\\diffci{{{_interval(test.ci_low, test.ci_high)}}}")
                cells.append(cell)
            lines.append(" & ".join(cells) + r" \\")
            if stats is not None:
                lines.append(" & ".join(intervals) + r" \\[1pt]")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


# The trainer's gradient clipping when the config sets none: transformers'
# TrainingArguments.max_grad_norm default (tests/test_train.py checks it against the
# installed library).
TRAINER_MAX_GRAD_NORM = 1.0
# The packages whose pinned versions the hyperparameter table states.
SOFTWARE = ("sentence-transformers", "transformers", "torch", "lion-pytorch", "pyserini",
            "pytrec-eval-terrier")


def software_versions(requirements: str | Path, makefile: str | Path) -> dict[str, str]:
    """Pinned versions of SOFTWARE: requirements.txt, and the Makefile's torch pin."""
    pins = {}
    for line in Path(requirements).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    torch = re.search(r"\btorch==([0-9][^\s]*)", Path(makefile).read_text(encoding="utf-8"))
    if torch:
        pins["torch"] = torch.group(1)
    missing = [name for name in SOFTWARE if name not in pins]
    if missing:
        raise ValueError(f"{requirements}: no pinned version of {', '.join(missing)}")
    return {name: pins[name] for name in SOFTWARE}


def _revision(value: str | None) -> str:
    if not value:
        return "no pinned revision"
    if value == "unpinned":
        return "current main branch (unpinned)"
    return f"\\texttt{{{value[:7]}}}"


def hyperparameter_table(config: Mapping, software: Mapping[str, str] | None = None) -> str:
    """Shared training settings as the trainer applies them, the optimizer constants, the
    training data and per-epoch evaluation, and the pinned software."""
    study, training = _require(config, "study", "config"), _require(config, "training", "config")
    data, optimizers = _require(config, "data", "config"), _require(config, "optimizers", "config")
    seeds = ", ".join(format_number(s, style="int") for s in _require(study, "seeds", "study"))
    batch, pairs = _require(training, "batch_size", "training"), _require(data, "pairs", "data")
    epochs = _require(study, "epochs", "study")
    ratio = _require(training, "warmup_ratio", "training")
    per_epoch = math.ceil(pairs / batch)
    total = per_epoch * epochs
    grad_norm = training.get("max_grad_norm", TRAINER_MAX_GRAD_NORM)
    evaluator = training.get("evaluator") or {"type": "heldout"}
    if evaluator.get("type") == "nanobeir":
        judged = "NanoBEIR (" + ", ".join(latex_escape(d) for d in evaluator.get("datasets", [])) + ")"
    else:
        judged = "held-out pairs"
    if data.get("hf_dataset"):
        name = latex_escape(data["hf_dataset"]).replace("/", "/\\allowbreak{}")  # breaks at the slash
        source = f"\\texttt{{{name}}}, {_revision(data.get('hf_revision'))}"
    else:
        source = latex_escape(str(data.get("source", "")))
    rows = [
        ("Batch size", format_number(batch, style="int")),
        ("Epochs", format_number(epochs, style="int")),
        ("Training pairs", format_number(pairs, style="int")),
        ("Steps per epoch, total",
         f"{format_number(per_epoch, style='int')}, {format_number(total, style='int')}"),
        ("Warm-up", f"ratio {format_number(ratio, style='auto')}, "
                    f"{format_number(math.ceil(ratio * total), style='int')} steps"),
        ("Max.\\ gradient norm", format_number(grad_norm, style="auto")
         + ("" if "max_grad_norm" in training else " (trainer default)")),
        ("Precision", "bf16" if _require(training, "bf16", "training") else "fp32"),
        ("Seed" + ("s" if "," in seeds else ""), seeds),
        ("Negatives", "one per positive" if data.get("source", "hf") == "hf" else "BM25 hard negatives"),
        ("Training data", source),
        ("Per-epoch evaluation", judged),
    ]
    # Values wrap within the column (the data set and evaluator lines are long).
    lines = ["\\begin{tabular}{@{}l>{\\raggedright\\arraybackslash}p{0.54\\columnwidth}@{}}",
             "\\toprule", r"Setting & Value \\", "\\midrule"]
    lines += [f"{k} & {v}" + r" \\" for k, v in rows]
    for key, spec in optimizers.items():
        where = f"optimizers.{key}"
        beta1, beta2 = _require(spec, "betas", where)
        name = latex_escape(_require(spec, "name", where))
        lines += ["\\midrule", f"\\multicolumn{{2}}{{@{{}}l}}{{\\emph{{{name}}}}}" + r" \\",
                  f"$(\\beta_1, \\beta_2)$ & ({format_number(beta1, style='auto')}, "
                  f"{format_number(beta2, style='auto')})" + r" \\"]
        if spec.get("type") == "adamw" and "eps" in spec:
            lines.append(f"$\\epsilon$ & {format_number(spec['eps'], style='sci')}" + r" \\")
        lines.append(f"Weight decay $\\lambda$ & "
                     f"{format_number(_require(spec, 'weight_decay', where), style='auto')}"
                     + r" \\")
    if software:
        lines += ["\\midrule", r"\multicolumn{2}{@{}l}{\emph{Software (pinned)}} \\"]
        lines += [f"\\texttt{{{latex_escape(name)}}} & {latex_escape(version)}" + r" \\"
                  for name, version in software.items()]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def models_table(config: Mapping, runs: Mapping) -> str:
    """Per-model settings: checkpoint, input length, learning rate, schedule.

    Where a (model, optimizer) override makes an optimizer's run differ from the model's
    first optimizer, that optimizer gets its own indented row, so nothing is hidden.
    """
    models = _require(config, "models", "config")
    optimizers = _require(config, "optimizers", "config")
    lines = ["\\begin{tabular}{@{}lccl@{}}", "\\toprule",
             r"Model & Max.\ length & Learning rate & Schedule \\", "\\midrule"]
    for i, (key, spec) in enumerate(models.items()):
        where = f"models.{key}"
        per_optim = _require(runs, key, "runs")
        first, *others = list(optimizers)
        base = per_optim[first]
        if i:
            lines.append("\\addlinespace[3pt]")
        lines.append(" & ".join([
            latex_escape(_require(spec, "name", where)),
            format_number(_require(spec, "max_length", where), style="int"),
            format_number(base["learning_rate"], style="sci"),
            SCHEDULER_LABELS[base["scheduler"]],
        ]) + r" \\")
        for optim in others:
            run = per_optim[optim]
            if all(run[k] == base[k] for k in _COMPARED_SETTINGS):
                continue
            label = latex_escape(optimizers[optim]["name"])
            decay = ("" if run["weight_decay"] == optimizers[optim]["weight_decay"] else
                     f", $\\lambda$ {format_number(run['weight_decay'], style='auto')}")
            lines.append(f"\\quad with {label} & & "
                         f"{format_number(run['learning_rate'], style='sci')} & "
                         f"{SCHEDULER_LABELS[run['scheduler']]}{decay}" + r" \\")
        origin = (f"\\texttt{{{latex_escape(_require(spec, 'hub_id', where))}}} at "
                  f"{_revision(spec.get('revision'))}"
                  if _require(spec, "source", where) == "hub"
                  else "tiny model built locally from config")
        # The checkpoint id is long: its own line keeps the table within one column.
        lines.append(f"\\multicolumn{{4}}{{@{{}}l}}{{\\quad\\scriptsize {origin}}}" + r" \\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


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


# --------------------------------------------------------------------------- building


_OVERFULL = re.compile(r"^Overfull \\[hv]box \(([\d.]+)pt too (?:wide|high)\)(.*)$", re.M)
_UNDEFINED = re.compile(r"^(?:LaTeX|Package \w+) Warning: (?:Reference|Citation) .*undefined.*$",
                        re.M)


def latex_problems(log_text: str, max_overfull_pt: float = 1.0) -> list[str]:
    """What a clean build must not have: undefined references or citations, overfull boxes.

    Read from the final LaTeX log, so it reflects the last pass after latexmk converged.
    """
    problems = [m.group(0).strip() for m in _UNDEFINED.finditer(log_text)]
    if "There were undefined references" in log_text:
        problems.append("There were undefined references")
    problems += [m.group(0).strip() for m in _OVERFULL.finditer(log_text)
                 if float(m.group(1)) > max_overfull_pt]
    return unique_in_order(problems)


def pdf_sentences(text: str) -> list[str]:
    """Sentences of a PDF's text (pdftotext): line-end hyphens joined, whitespace folded."""
    text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)
    text = re.sub(r"\s+", " ", text)
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text) if s.strip()]


def repeated_sentences(text: str, min_words: int = 13) -> list[str]:
    """Sentences of at least `min_words` words that occur more than once in `text`."""
    seen: dict[str, int] = {}
    for sentence in pdf_sentences(text):
        if len(sentence.split()) >= min_words:
            seen[sentence] = seen.get(sentence, 0) + 1
    return [sentence for sentence, count in seen.items() if count > 1]


def stage_sources(source_root: Path, sources: Iterable[str | Path], generated: Iterable[str | Path],
                  build_dir: Path) -> None:
    """Copy LaTeX sources (keeping their paths below source_root) and generated files
    (flat, into build_dir/generated) so latexmk sees one self-contained tree."""
    source_root, build_dir = Path(source_root).resolve(), Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    for src in sources:
        src = Path(src).resolve()
        target = build_dir / src.relative_to(source_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    gen_dir = build_dir / "generated"
    if gen_dir.exists():
        shutil.rmtree(gen_dir)  # a figure dropped from config must not linger
    gen_dir.mkdir()
    for path in generated:
        shutil.copyfile(path, gen_dir / Path(path).name)


def build_pdf(build_dir: Path, main: str = "main.tex", *, log_path: Path | None = None,
              max_overfull_pt: float = 1.0) -> Path:
    """Run latexmk in build_dir and fail unless the result is clean.

    A PDF with '??' or overfull lines is not a finished paper, so problems raise
    instead of passing quietly.
    """
    build_dir = Path(build_dir)
    if shutil.which("latexmk") is None:
        raise RuntimeError("latexmk is not installed (see .ci/run for the TeX Live packages)")
    cmd = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
           main]
    proc = subprocess.run(cmd, cwd=build_dir, capture_output=True, text=True)
    if log_path is not None:
        Path(log_path).write_text(proc.stdout + proc.stderr, encoding="utf-8")
    latex_log = build_dir / Path(main).with_suffix(".log")
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"latexmk failed in {build_dir} (exit {proc.returncode}):\n{tail}")
    problems = latex_problems(latex_log.read_text(encoding="utf-8", errors="replace"),
                              max_overfull_pt)
    if problems:
        raise RuntimeError(f"{latex_log}: the build is not clean:\n  " + "\n  ".join(problems))
    return build_dir / Path(main).with_suffix(".pdf")
