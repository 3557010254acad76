"""Unit tests for crossopt.stats, on samples small enough to check by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from crossopt import stats


# --- paired t-test -----------------------------------------------------------


def test_t_test_hand_computed_df3():
    # diffs a - b = [1, 2, 3, 4]: mean 2.5, sample var (2.25+.25+.25+2.25)/3 = 5/3,
    # sd = 1.29099, se = sd/sqrt(4) = 0.645497, t = 2.5/0.645497 = 3.87298 (= sqrt(15)), df 3.
    # t-table, df 3: t_.975 = 3.182 < 3.873 < t_.99 = 4.541, so 0.02 < p < 0.05 (0.0305).
    res = stats.paired_t_test([2, 3, 4, 5], [1, 1, 1, 1])
    assert res.t == pytest.approx(math.sqrt(15), abs=1e-9)
    assert res.df == 3
    assert 0.02 < res.p < 0.05
    assert res.p == pytest.approx(0.0305, abs=5e-4)


def test_t_test_two_sided_p_closed_form_df2():
    # diffs [1, 2, 3]: mean 2, sd 1, t = 2/(1/sqrt 3) = 2 sqrt 3 = 3.4641, df 2.
    # Student t with 2 df has a closed form: two-sided p = 1 - |t|/sqrt(2 + t^2)
    # = 1 - 3.4641/sqrt(14) = 1 - 0.92582 = 0.07418.
    res = stats.paired_t_test([1, 2, 3], [0, 0, 0])
    assert res.t == pytest.approx(2 * math.sqrt(3))
    assert res.df == 2
    assert res.p == pytest.approx(1 - 2 * math.sqrt(3) / math.sqrt(14), abs=1e-12)
    # two-sided: swapping the systems flips t, keeps p
    swapped = stats.paired_t_test([0, 0, 0], [1, 2, 3])
    assert swapped.t == pytest.approx(-res.t)
    assert swapped.p == pytest.approx(res.p)


def test_t_test_zero_spread_limits():
    assert stats.paired_t_test([0.3, 0.5], [0.3, 0.5]) == (0.0, 1, 1.0)  # identical runs
    # every query +0.1; in floats the diffs are 0.10000000000000003 and 0.09999999999999998,
    # a rounding "spread" that must not turn into t ~ 1e15
    shifted = stats.paired_t_test([0.4, 0.6], [0.3, 0.5])
    assert shifted.t == math.inf and shifted.p == 0.0
    assert stats.effect_sizes([0.4, 0.6], [0.3, 0.5]).d_z == math.inf
    # the same rounding noise around zero is no difference at all
    assert stats.paired_t_test([0.1 + 0.2, 0.7], [0.3, 0.7]) == (0.0, 1, 1.0)
    assert stats.paired_randomization_test([0.1 + 0.2, 0.7], [0.3, 0.7], 100, 0).p == 1.0


# --- randomization test ------------------------------------------------------


def test_randomization_exact_all_positive():
    # diffs [1, 2, 3, 4], observed sum 10. Of the 2^4 = 16 sign vectors only
    # (+,+,+,+) and (-,-,-,-) reach |sum| >= 10, so p = 2/16 = 0.125.
    res = stats.paired_randomization_test([1, 2, 3, 4], [0, 0, 0, 0], n_permutations=16, seed=1)
    assert res == (0.125, 16, True)


def test_randomization_exact_mixed_signs():
    # diffs [1, -2, 3, 4], observed sum 6. Flipping a subset S of {1,2,3,4} (by magnitude)
    # gives sum 10 - 2*sum(S); the 16 subset sums 0,1,2,3,4,3,4,5,5,6,7,6,7,8,9,10 give
    # sums 10,8,6,4,2,4,2,0,0,-2,-4,-2,-4,-6,-8,-10; |sum| >= 6 for 10,8,6,-6,-8,-10:
    # p = 6/16 = 0.375.
    res = stats.paired_randomization_test([1, -2, 3, 4], [0, 0, 0, 0], n_permutations=10_000, seed=1)
    assert res.exact and res.n_permutations == 16
    assert res.p == pytest.approx(6 / 16)
    # exact enumeration does not depend on the seed
    assert stats.paired_randomization_test([1, -2, 3, 4], [0] * 4, n_permutations=10_000, seed=99).p == res.p


def test_randomization_three_queries():
    # diffs [1, 2, 3]: sums of the 8 sign vectors 6,4,2,0,0,-2,-4,-6; |sum| >= 6 twice: p = 2/8.
    res = stats.paired_randomization_test([1, 2, 3], [0, 0, 0], n_permutations=8, seed=0)
    assert res == (0.25, 8, True)


def test_randomization_sampled_adds_one():
    # diffs 1..20: only the all-equal sign vectors (probability 2/2^20) reach the observed
    # |mean|, so 999 random vectors almost surely count 0 and p = (0 + 1)/(999 + 1).
    res = stats.paired_randomization_test(np.arange(1, 21), np.zeros(20), n_permutations=999, seed=12)
    assert res == (0.001, 999, False)


def test_randomization_sampled_is_seeded_and_close_to_exact():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(size=12), rng.uniform(size=12)
    exact = stats.paired_randomization_test(a, b, n_permutations=4096, seed=0)
    assert exact.exact
    first = stats.paired_randomization_test(a, b, n_permutations=4095, seed=7)
    again = stats.paired_randomization_test(a, b, n_permutations=4095, seed=7)
    assert not first.exact and first == again
    assert first.p == pytest.approx(exact.p, abs=0.03)


# --- Holm --------------------------------------------------------------------


def test_holm_known_list():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04;
    # running max 0.02, 0.03, 0.06, 0.06; back in input order:
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_handles_ties_and_empty():
    np.testing.assert_allclose(stats.holm([0.6, 0.7]), [1.0, 1.0])  # 1.2 -> 1, max(1, .7) = 1
    np.testing.assert_allclose(stats.holm([0.01, 0.01]), [0.02, 0.02])
    np.testing.assert_allclose(stats.holm([0.2]), [0.2])
    assert stats.holm([]).size == 0


def test_holm_rejects_invalid():
    with pytest.raises(ValueError, match=r"\[0, 1\].*position\(s\) \[1\]"):
        stats.holm([0.1, float("nan")])
    with pytest.raises(ValueError, match="position"):
        stats.holm([1.5])


# --- bootstrap and effect sizes ----------------------------------------------


VALUES = [0.1, 0.5, 0.3, 0.9, 0.2, 0.7, 0.4]


def test_bootstrap_ci_seeded_and_contains_mean():
    ci = stats.bootstrap_ci(VALUES, n_resamples=2000, seed=12)
    assert ci == stats.bootstrap_ci(VALUES, n_resamples=2000, seed=12)
    assert ci.low < np.mean(VALUES) < ci.high
    assert min(VALUES) <= ci.low and ci.high <= max(VALUES)  # percentile CI of a mean stays in range
    wider = stats.bootstrap_ci(VALUES, n_resamples=2000, seed=12, level=0.99)
    assert wider.low <= ci.low and ci.high <= wider.high
    assert stats.bootstrap_ci(VALUES, n_resamples=2000, seed=13) != ci


def test_bootstrap_ci_constant_values():
    assert stats.bootstrap_ci([0.5] * 5, n_resamples=500, seed=1)[:2] == (0.5, 0.5)


def test_paired_bootstrap_is_bootstrap_of_differences():
    a = np.array(VALUES)
    b = a[::-1] * 0.8
    assert stats.paired_bootstrap_ci(a, b, 1000, seed=3) == stats.bootstrap_ci(a - b, 1000, seed=3)


def test_effect_sizes():
    # diffs [1, 2, 3, 4]: mean 2.5, sd 1.29099, d_z = 1.93649 = t / sqrt(n) = 3.87298 / 2
    eff = stats.effect_sizes([2, 3, 4, 5], [1, 1, 1, 1])
    assert eff.mean_diff == 2.5
    assert eff.d_z == pytest.approx(math.sqrt(15) / 2)
    assert stats.effect_sizes([1, 2], [1, 2]).d_z == 0.0


# --- input errors --------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: stats.paired_t_test([], []), "a: empty"),
        (lambda: stats.paired_t_test([1, 2, 3], [1, 2]), "a has 3 values, b has 2"),
        (lambda: stats.paired_t_test([1], [2]), "at least 2 queries, got 1"),
        (lambda: stats.paired_t_test([1, float("nan")], [1, 2]), r"a: non-finite value at position\(s\) \[1\]"),
        (lambda: stats.paired_randomization_test([1, 2], [1], 100, 0), "a has 2 values, b has 1"),
        (lambda: stats.paired_randomization_test([1, 2], [0, 1], 0, 0), "n_permutations must be >= 1"),
        (lambda: stats.bootstrap_ci([], 100, 0), "values: empty"),
        (lambda: stats.bootstrap_ci([1, 2], 100, 0, level=95), r"level must be in \(0, 1\)"),
        (lambda: stats.effect_sizes([[1, 2]], [[1, 2]]), "1-D"),
    ],
)
def test_errors_say_what(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- pairing by query id, evaluation records, seeds --------------------------


A = {"q1": 0.5, "q2": 0.6, "q3": 0.7, "q4": 0.8, "q5": 0.1}
B = {"q4": 0.4, "q3": 0.4, "q2": 0.4, "q1": 0.4, "q6": 0.9}


def test_pair_by_query_drops_and_reports():
    qids, a, b, dropped = stats.pair_by_query(A, B)
    assert qids == ["q1", "q2", "q3", "q4"]
    np.testing.assert_allclose(a, [0.5, 0.6, 0.7, 0.8])
    np.testing.assert_allclose(b, [0.4] * 4)
    assert dropped == ("q5", "q6")


def test_compare_runs_record():
    # shared q1..q4, diffs [.1, .2, .3, .4]: the [1, 2, 3, 4] sample scaled by 0.1, so
    # t = sqrt(15) as above (t is scale free), exact p_perm = 2/16, d_z = sqrt(15)/2.
    rec = stats.compare_runs(A, B, system_a="lion", system_b="adamw", measure="ndcg_cut_10", testset="dl19")
    assert (rec.system_a, rec.system_b, rec.measure, rec.testset, rec.n) == ("lion", "adamw", "ndcg_cut_10", "dl19", 4)
    assert rec.dropped == ("q5", "q6")
    assert rec.mean_a == pytest.approx(0.65) and rec.mean_b == pytest.approx(0.4)
    assert rec.diff == pytest.approx(0.25)
    assert rec.t == pytest.approx(math.sqrt(15))
    assert rec.p_perm == pytest.approx(0.125)
    assert rec.d_z == pytest.approx(math.sqrt(15) / 2)
    assert rec.ci_low <= rec.diff <= rec.ci_high
    assert rec == stats.compare_runs(A, B, system_a="lion", system_b="adamw", measure="ndcg_cut_10", testset="dl19")


def test_compare_runs_errors_name_the_comparison():
    with pytest.raises(ValueError, match=r"lion vs adamw, map on dl20.*only 1 query id"):
        stats.compare_runs({"q1": 1.0, "q2": 0.0}, {"q1": 0.5}, system_a="lion", system_b="adamw", measure="map", testset="dl20")
    with pytest.raises(ValueError, match="per_query_b: no per-query values"):
        stats.compare_runs(A, {}, system_a="x", system_b="y", measure="map", testset="dl19")


def test_per_query_measure_from_evaluation_record():
    evaluation = {
        "testset": "dl19", "system": "minilm-lion", "relevance_level": 2,
        "aggregate": {"map": 0.5},
        "per_query": {"19335": {"map": 0.25, "P_10": 0.3}, "47923": {"map": 0.75, "P_10": 0.1}},
    }
    assert stats.per_query_measure(evaluation, "map") == {"19335": 0.25, "47923": 0.75}
    with pytest.raises(KeyError, match="minilm-lion on dl19: query 19335 has no measure 'Rprec'"):
        stats.per_query_measure(evaluation, "Rprec")


def test_mean_over_seeds():
    means = stats.mean_over_seeds([{"q1": 0.2, "q2": 0.4}, {"q2": 0.8, "q1": 0.4}])
    assert means == pytest.approx({"q1": 0.3, "q2": 0.6})


def test_mean_over_seeds_rejects_different_query_sets():
    with pytest.raises(ValueError, match=r"seed #1 has a different query set.*missing \['q2'\], extra \['q3'\]"):
        stats.mean_over_seeds([{"q1": 0.2, "q2": 0.4}, {"q1": 0.4, "q3": 0.8}])
    with pytest.raises(ValueError, match="no seeds given"):
        stats.mean_over_seeds([])


def test_seed_summary():
    # mean 0.4; sd = sqrt((0.1^2 + 0.1^2) / (2 - 1)) = 0.141421
    assert stats.seed_summary([0.3, 0.5]) == pytest.approx((0.4, math.sqrt(0.02), 2))
    one = stats.seed_summary([0.3])
    assert one.mean == 0.3 and math.isnan(one.sd) and one.n_seeds == 1


# --- significance table --------------------------------------------------------


def _record(measure: str, p_t: float, p_perm: float) -> stats.Comparison:
    return stats.Comparison("lion", "adamw", measure, "dl19", 43, 0.7, 0.68, 0.02, -0.01, 0.05, 1.2, p_t, p_perm, 0.2, ("q9",))


def test_significance_table_holm_and_decision():
    records = [_record("ndcg_cut_10", 0.01, 0.01), _record("map", 0.04, 0.04),
               _record("recall_10", 0.03, 0.03), _record("P_10", 0.005, 0.02)]
    df = stats.significance_table(records, alpha=0.05, family="lion_vs_adamw")
    assert list(df.columns) == stats.SIGNIFICANCE_COLUMNS
    np.testing.assert_allclose(df["p_t_holm"], [0.03, 0.06, 0.06, 0.02])
    # perm: sorted .01,.02,.03,.04 times 4,3,2,1 = .04,.06,.06,.04 -> running max .04,.06,.06,.06
    np.testing.assert_allclose(df["p_perm_holm"], [0.04, 0.06, 0.06, 0.06])
    assert df["significant"].tolist() == ["yes", "no", "no", "no"]
    by_t = stats.significance_table(records, alpha=0.05, family="lion_vs_adamw", test="t")
    assert by_t["significant"].tolist() == ["yes", "no", "no", "yes"]
    assert set(df["family"]) == {"lion_vs_adamw"} and set(df["dropped"]) == {"q9"}
    assert df["n_dropped"].tolist() == [1] * 4


def test_significance_table_errors():
    with pytest.raises(ValueError, match=r"fam\): alpha must be in \(0, 1\)"):
        stats.significance_table([_record("map", 0.1, 0.1)], alpha=5, family="fam")
    with pytest.raises(ValueError, match="listed twice"):
        stats.significance_table([_record("map", 0.1, 0.1)] * 2, alpha=0.05, family="fam")


def test_significance_table_empty_family():
    df = stats.significance_table([], alpha=0.05, family="none")
    assert list(df.columns) == stats.SIGNIFICANCE_COLUMNS and df.empty


def test_write_significance_tsv_round_trip_and_atomic(tmp_path):
    df = stats.significance_table([_record("map", 0.01, 0.02), _record("P_10", 0.5, 0.4)], alpha=0.05, family="f")
    target = tmp_path / "stats" / "significance.tsv"
    stats.write_significance_tsv(df, target)
    back = pd.read_csv(target, sep="\t", dtype={"dropped": str})
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert [p.name for p in target.parent.iterdir()] == ["significance.tsv"]  # no temp file left
    with pytest.raises(ValueError, match=r"significance.tsv\): table lacks column\(s\) \['family'"):
        stats.write_significance_tsv(df.drop(columns=["family"]), target)
    assert pd.read_csv(target, sep="\t").shape == df.shape  # failed write left the old file intact
