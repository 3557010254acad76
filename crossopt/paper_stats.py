"""The paper's statistics of computed results: the workflow's paired tests and bootstrap
intervals (results/stats/significance.tsv, means.tsv) read, checked against the results
table, and turned into cell markers, intervals and sentences."""

from __future__ import annotations

import csv
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .paper import (BASELINE_MODEL, MEASURE_LABELS, MEASURES, PRIMARY_MEASURE, ResultRow, _count,
                    _plural, _require, baseline, compared_optimizers, format_number,
                    latex_escape, matched_differences, rerankers)


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


def p_clause(p: float, name: str = "p", *, bound: bool = False) -> str:
    """'$p = 0.012$', or '$p < 0.001$' below what three decimals can show; with `bound` (a
    permutation p at its floor, 1/(R+1), which only bounds the true value) '$p \\le 0.012$'."""
    if p < 0.001:
        return f"${name} < 0.001$"
    relation = "\\le" if bound else "="
    return f"${name} {relation} {format_number(p, digits=3)}$"


def at_permutation_floor(t: "PairedTest", permutations: int) -> bool:
    """Whether the deciding test is the randomization test and its raw p is the smallest it
    can give, 1/(R+1): no sign vector reached |mean d|, so p is a bound, not an estimate."""
    return t.test == "perm" and t.p_perm <= 1 / (permutations + 1) * (1 + 1e-9)


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
            f"{p_clause(t.p_adjusted, bound=at_permutation_floor(t, stats.permutations))})")


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



