"""Per-query statistics: paired tests, bootstrap intervals, effect sizes, Holm correction.

Every comparison in the paper is paired by query: the same topics are scored by two
systems, so the per-query differences carry the signal and the between-query variance
(far larger than any optimizer effect on 43 DL19 queries) cancels out. Following
Smucker, Allan and Carterette (CIKM 2007) we report both the paired t-test and the
paired randomization test, plus percentile bootstrap intervals over queries.

The functions are pure (inputs in, numbers out); only `write_significance_tsv` touches
the file system. scipy does the statistics; this module validates inputs, fixes the
conventions (two-sided, seeded, which bootstrap method) and names the results.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as sps

from .atomic import atomic_write_text

__all__ = [
    "TTestResult",
    "PermutationResult",
    "ConfidenceInterval",
    "EffectSize",
    "SeedSummary",
    "Comparison",
    "paired_t_test",
    "paired_randomization_test",
    "holm",
    "bootstrap_ci",
    "paired_bootstrap_ci",
    "effect_sizes",
    "per_query_measure",
    "pair_by_query",
    "compare_runs",
    "mean_over_seeds",
    "seed_summary",
    "significance_table",
    "write_significance_tsv",
    "SIGNIFICANCE_COLUMNS",
]


class TTestResult(NamedTuple):
    t: float
    df: int
    p: float


class PermutationResult(NamedTuple):
    p: float
    n_permutations: int  # arrangements actually evaluated: 2**n when exact
    exact: bool


class ConfidenceInterval(NamedTuple):
    low: float
    high: float
    level: float


class EffectSize(NamedTuple):
    mean_diff: float
    d_z: float  # mean difference / sd of differences (Cohen's d_z for paired data)


class SeedSummary(NamedTuple):
    mean: float
    sd: float  # sample sd (ddof=1); NaN with a single seed, where it is undefined
    n_seeds: int


# ---------------------------------------------------------------------------
# Input validation shared by every statistic: a silent NaN or a length mismatch would
# otherwise turn into a plausible-looking p-value.


def _vector(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of per-query values, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: empty; need per-query values for at least 2 queries")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name}: non-finite value at position(s) {bad.tolist()}")
    return arr


def _differences(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> np.ndarray:
    """Per-query differences a - b, after checking that a and b are paired samples.

    Differences within rounding noise (`_rounding_tolerance`) are set to exactly 0, so
    runs equal up to the last digit are treated as equal by every statistic.
    """
    x, y = _vector(a, "a"), _vector(b, "b")
    if x.size != y.size:
        raise ValueError(
            f"paired samples differ in length: a has {x.size} values, b has {y.size}; "
            "pair them by query id first (see pair_by_query)"
        )
    if x.size < 2:
        raise ValueError(f"paired samples: need at least 2 queries, got {x.size}")
    d = x - y
    d[np.abs(d) <= _rounding_tolerance(d)] = 0.0
    return d


def _rounding_tolerance(d: np.ndarray) -> float:
    """Below this, differences are floating-point noise, not a difference between systems.

    Per-query measures come out of floating-point arithmetic: 0.4 - 0.3 and 0.6 - 0.5
    differ in the 17th digit. Taken at face value, such noise gives t ~ 1e15 for a
    constant shift and t = +-inf for two identical runs.
    """
    return 1e-12 * max(1.0, float(np.max(np.abs(d))))


def _standardized(d: np.ndarray) -> tuple[float, float]:
    """(sd, mean / sd) of the differences, with the zero-spread limits spelled out.

    scipy returns NaN with a RuntimeWarning there; a NaN would then break Holm's
    ordering, so we use the limits instead: ratio 0 when nothing differs, +-inf when
    every query moves by the same amount.
    """
    tol = _rounding_tolerance(d)
    mean = float(d.mean())
    if np.ptp(d) > tol:
        sd = float(np.std(d, ddof=1))
        return sd, mean / sd
    return 0.0, (0.0 if abs(mean) <= tol else math.copysign(math.inf, mean))


# ---------------------------------------------------------------------------
# Significance tests


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> TTestResult:
    """Two-sided paired t-test of mean(a - b) = 0 (scipy's one-sample t-test of the
    differences, identical to ttest_rel), df = n - 1.

    With zero spread in the differences (up to rounding) t is the limit of
    `_standardized`: t = 0, p = 1 for identical runs; t = +-inf, p = 0 for a constant
    non-zero shift.
    """
    d = _differences(a, b)
    df = d.size - 1
    sd, ratio = _standardized(d)
    if sd == 0:
        return TTestResult(t=ratio, df=df, p=1.0 if ratio == 0 else 0.0)
    res = sps.ttest_1samp(d, 0.0, alternative="two-sided")  # = ttest_rel(a, b)
    return TTestResult(t=float(res.statistic), df=df, p=float(res.pvalue))


def paired_randomization_test(
    a: Sequence[float], b: Sequence[float], n_permutations: int, seed: int
) -> PermutationResult:
    """Two-sided paired randomization test by sign flipping of per-query differences.

    Under H0 the label of each pair is exchangeable, so each difference keeps or flips
    its sign. The statistic is |mean(d*)|, compared with the observed |mean(d)|:

    - exact, when 2**n <= n_permutations: all 2**n sign vectors (the observed one
      included) are enumerated and p = #{|mean(d*)| >= |mean(d)|} / 2**n;
    - otherwise randomized: n_permutations random sign vectors drawn with `seed`, and
      p = (#{|mean(d*)| >= |mean(d)|} + 1) / (n_permutations + 1), which counts the
      observed arrangement so that p is never 0 (Phipson and Smyth, 2010).

    scipy.stats.permutation_test does the enumeration/sampling and uses a small relative
    tolerance in the >= comparison, so floating-point ties count as ties.
    """
    d = _differences(a, b)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")

    def abs_mean(x: np.ndarray, axis: int) -> np.ndarray:
        return np.abs(np.mean(x, axis=axis))

    res = sps.permutation_test(
        (d,),  # one sample + permutation_type="samples" means sign flipping in scipy
        abs_mean,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_permutations,
        alternative="greater",
        rng=np.random.default_rng(seed),
    )
    exact = 2**d.size <= n_permutations
    used = 2**d.size if exact else n_permutations
    return PermutationResult(p=float(res.pvalue), n_permutations=used, exact=exact)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, in the input order.

    Sorted ascending, p_(i) is multiplied by (m - i + 1); a running maximum keeps the
    adjusted values monotone in the raw ones, and they are capped at 1. A hypothesis is
    rejected at level alpha exactly when its adjusted p <= alpha. (scipy offers only
    FDR procedures; statsmodels' multipletests would be a whole dependency for 4 lines.)
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"holm: expected a 1-D sequence of p-values, got shape {p.shape}")
    bad = np.flatnonzero(~np.isfinite(p) | (p < 0) | (p > 1))
    if bad.size:
        raise ValueError(f"holm: p-values must lie in [0, 1]; bad at position(s) {bad.tolist()}")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (m - np.arange(m))
    adjusted_sorted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted


# ---------------------------------------------------------------------------
# Intervals and effect sizes


def bootstrap_ci(
    values: Sequence[float], n_resamples: int, seed: int, level: float = 0.95
) -> ConfidenceInterval:
    """Percentile bootstrap interval for the mean, resampling queries with replacement.

    Percentile rather than scipy's default BCa: per-query IR measures are bounded and
    heavily tied (P@10 in steps of 0.1, RR in 1/k), where BCa's jackknife acceleration
    can degenerate to NaN; the percentile interval is also what IR papers usually mean.
    """
    x = _vector(values, "values")
    if x.size < 2:
        raise ValueError(f"bootstrap_ci: need at least 2 queries, got {x.size}")
    if not 0 < level < 1:
        raise ValueError(f"bootstrap_ci: level must be in (0, 1), got {level}")
    if n_resamples < 1:
        raise ValueError(f"bootstrap_ci: n_resamples must be >= 1, got {n_resamples}")
    res = sps.bootstrap(
        (x,),
        np.mean,
        n_resamples=n_resamples,
        confidence_level=level,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return ConfidenceInterval(float(res.confidence_interval.low), float(res.confidence_interval.high), level)


def paired_bootstrap_ci(
    a: Sequence[float], b: Sequence[float], n_resamples: int, seed: int, level: float = 0.95
) -> ConfidenceInterval:
    """Percentile bootstrap interval for mean(a - b): queries are resampled as pairs,
    so the interval reflects the paired design (the bootstrap of the differences)."""
    return bootstrap_ci(_differences(a, b), n_resamples=n_resamples, seed=seed, level=level)


def effect_sizes(a: Sequence[float], b: Sequence[float]) -> EffectSize:
    """Mean difference (in the measure's units) and Cohen's d_z = mean(d) / sd(d).

    d_z is the standardized effect of a paired design (t = d_z * sqrt(n)); with zero
    spread it takes the limits described in `_standardized`.
    """
    d = _differences(a, b)
    return EffectSize(mean_diff=float(d.mean()), d_z=_standardized(d)[1])


# ---------------------------------------------------------------------------
# Per-query dictionaries (the evaluation JSONs) and seeds


def per_query_measure(evaluation: Mapping, measure: str) -> dict[str, float]:
    """{qid: value} for one measure from an evaluation record
    ({"testset", "system", "per_query": {qid: {measure: value}}, ...})."""
    where = f"{evaluation.get('system', '?')} on {evaluation.get('testset', '?')}"
    per_query = evaluation.get("per_query")
    if not isinstance(per_query, Mapping) or not per_query:
        raise ValueError(f"evaluation of {where}: no 'per_query' values")
    out: dict[str, float] = {}
    for qid, measures in per_query.items():
        if measure not in measures:
            raise KeyError(f"evaluation of {where}: query {qid} has no measure {measure!r} (has {sorted(measures)})")
        out[str(qid)] = float(measures[measure])
    return out


def _check_per_query(values: Mapping[str, float], name: str) -> None:
    if not values:
        raise ValueError(f"{name}: no per-query values")
    bad = sorted(q for q, v in values.items() if not math.isfinite(float(v)))
    if bad:
        raise ValueError(f"{name}: non-finite value for query id(s) {bad}")


def pair_by_query(
    per_query_a: Mapping[str, float], per_query_b: Mapping[str, float]
) -> tuple[list[str], np.ndarray, np.ndarray, tuple[str, ...]]:
    """Align two {qid: value} maps on the queries both contain.

    Returns (qids, a, b, dropped): the shared query ids in sorted order, the aligned
    values, and the sorted ids present in only one of the two (reported, not hidden).
    """
    _check_per_query(per_query_a, "per_query_a")
    _check_per_query(per_query_b, "per_query_b")
    shared = sorted(set(per_query_a) & set(per_query_b))
    dropped = tuple(sorted(set(per_query_a) ^ set(per_query_b)))
    a = np.array([per_query_a[q] for q in shared], dtype=float)
    b = np.array([per_query_b[q] for q in shared], dtype=float)
    return shared, a, b, dropped


def mean_over_seeds(per_query_by_seed: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per-query mean over seeds: the per-query value a paired test uses with several seeds.

    Every seed must cover the same queries; a differing set means some run is
    incomplete, and averaging over a different number of seeds per query would hide it.
    """
    if not per_query_by_seed:
        raise ValueError("mean_over_seeds: no seeds given")
    reference = set(per_query_by_seed[0])
    for i, per_query in enumerate(per_query_by_seed):
        _check_per_query(per_query, f"mean_over_seeds: seed #{i}")
        if set(per_query) != reference:
            missing = sorted(reference - set(per_query))
            extra = sorted(set(per_query) - reference)
            raise ValueError(
                f"mean_over_seeds: seed #{i} has a different query set from seed #0 "
                f"(missing {missing}, extra {extra})"
            )
    return {q: float(np.mean([float(pq[q]) for pq in per_query_by_seed])) for q in sorted(reference)}


def seed_summary(values: Sequence[float]) -> SeedSummary:
    """Mean and sample sd (ddof=1) of one aggregate value over seeds; sd is NaN for one seed."""
    x = _vector(values, "seed_summary")
    sd = float(np.std(x, ddof=1)) if x.size > 1 else math.nan
    return SeedSummary(mean=float(x.mean()), sd=sd, n_seeds=int(x.size))


# ---------------------------------------------------------------------------
# One comparison, and a family of them


@dataclass(frozen=True)
class Comparison:
    """One paired comparison of system_a against system_b (diff = mean_a - mean_b)."""

    system_a: str
    system_b: str
    measure: str
    testset: str
    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float  # percentile bootstrap interval of the paired difference
    ci_high: float
    t: float
    p_t: float
    p_perm: float
    d_z: float
    dropped: tuple[str, ...] = ()  # query ids present in only one of the two runs


def compare_runs(
    per_query_a: Mapping[str, float],
    per_query_b: Mapping[str, float],
    *,
    system_a: str,
    system_b: str,
    measure: str,
    testset: str,
    n_permutations: int = 10_000,
    n_resamples: int = 10_000,
    seed: int = 12,
    level: float = 0.95,
) -> Comparison:
    """Pair two runs by query id and compute every statistic the significance table shows.

    Only queries present in both runs are compared; the others are listed in `dropped`
    so the caller can report (or refuse) them.
    """
    where = f"{system_a} vs {system_b}, {measure} on {testset}"
    try:
        _, a, b, dropped = pair_by_query(per_query_a, per_query_b)
        if a.size < 2:
            raise ValueError(f"only {a.size} query id(s) shared by both runs; need at least 2")
        t_res = paired_t_test(a, b)
        perm = paired_randomization_test(a, b, n_permutations=n_permutations, seed=seed)
        ci = paired_bootstrap_ci(a, b, n_resamples=n_resamples, seed=seed, level=level)
        eff = effect_sizes(a, b)
    except ValueError as exc:
        raise ValueError(f"compare_runs ({where}): {exc}") from exc
    return Comparison(
        system_a=system_a,
        system_b=system_b,
        measure=measure,
        testset=testset,
        n=int(a.size),
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        diff=eff.mean_diff,
        ci_low=ci.low,
        ci_high=ci.high,
        t=t_res.t,
        p_t=t_res.p,
        p_perm=perm.p,
        d_z=eff.d_z,
        dropped=dropped,
    )


SIGNIFICANCE_COLUMNS = [
    "family", "testset", "measure", "system_a", "system_b", "n", "n_dropped", "dropped",
    "mean_a", "mean_b", "diff", "ci_low", "ci_high", "d_z", "t", "p_t", "p_perm",
    "p_t_holm", "p_perm_holm", "test", "alpha", "significant",
]


def significance_table(
    records: Sequence[Comparison],
    alpha: float,
    family: str,
    test: Literal["perm", "t"] = "perm",
) -> pd.DataFrame:
    """One row per comparison, with Holm-adjusted p-values over this family.

    A family is the set of comparisons one claim rests on (e.g. "lion_vs_adamw": every
    model x epoch x test set x measure), so Holm runs over exactly the records given;
    call once per family and concatenate. Both p-values are adjusted; `significant`
    ("yes"/"no") uses the adjusted p of `test` (the randomization test by default, the
    one Smucker et al. recommend) at `alpha`.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"significance_table({family}): alpha must be in (0, 1), got {alpha}")
    if test not in ("perm", "t"):
        raise ValueError(f"significance_table({family}): test must be 'perm' or 't', got {test!r}")
    keys = [(r.system_a, r.system_b, r.measure, r.testset) for r in records]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"significance_table({family}): comparison(s) listed twice: {duplicates}")
    rows = []
    for r in records:
        row = asdict(r)
        row["n_dropped"] = len(r.dropped)
        row["dropped"] = ",".join(r.dropped)
        rows.append(row)
    df = pd.DataFrame(rows, columns=[f.name for f in fields(Comparison)] + ["n_dropped"])
    df.insert(0, "family", family)
    df["p_t_holm"] = holm(df["p_t"].to_numpy(dtype=float))
    df["p_perm_holm"] = holm(df["p_perm"].to_numpy(dtype=float))
    df["test"] = test
    df["alpha"] = alpha
    df["significant"] = np.where(df[f"p_{test}_holm"] <= alpha, "yes", "no")
    return df[SIGNIFICANCE_COLUMNS]


def write_significance_tsv(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write the table as TSV atomically (crossopt.atomic), so an interrupted job never
    leaves a half-written table for Snakemake."""
    target = Path(path)
    missing = [c for c in SIGNIFICANCE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"write_significance_tsv({target}): table lacks column(s) {missing}")
    atomic_write_text(target, df.to_csv(sep="\t", index=False, lineterminator="\n"))
