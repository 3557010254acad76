import json

import pytest

from crossopt.significance import study_significance, system_means
from crossopt.study import Grid, StatisticsSettings, columns_from

QUERIES = [f"q{i}" for i in range(12)]
MEASURES = ["ndcg_cut_10", "map", "recip_rank_10", "recall_10", "Rprec", "P_10"]


def _config(seeds=(1, 2)):
    """(grid, columns, settings) as a Study gives them."""
    columns = {name: {"testset": "dl", "measure": m} for name, m in zip(
        ["NDCG@10", "MAP", "MRR@10", "Recall@10", "R-Prec", "P@10"], MEASURES)}
    columns["MRR@10"] = {"testset": "dev", "measure": "recip_rank_10"}
    grid = Grid(models={"m": "M"}, optimizers={"adamw": "AdamW", "lion": "Lion"}, seeds=tuple(seeds), epochs=(1,))
    settings = StatisticsSettings(baseline_optimizer="adamw", alpha=0.05, test="perm", permutations=2000,
                                  bootstrap_resamples=500, confidence=0.95, seed=3)
    return grid, columns_from(columns), settings


def _write(path, values):
    path.parent.mkdir(parents=True, exist_ok=True)
    per_query = {q: {m: v for m in MEASURES} for q, v in zip(QUERIES, values)}
    path.write_text(json.dumps({"per_query": per_query, "aggregate": {}, "testset": "t", "system": "s"}))


@pytest.fixture
def evaluations(tmp_path):
    # Lion beats AdamW on every query by 0.2 (seed means); BM25 equals AdamW.
    base = [0.1 + 0.05 * i for i in range(12)]
    for seed, jitter in ((1, 0.01), (2, -0.01)):
        for testset in ("dl", "dev"):
            _write(tmp_path / f"adamw/{seed}/{testset}.json", [b + jitter for b in base])
            _write(tmp_path / f"lion/{seed}/{testset}.json", [b + 0.2 + jitter * (i % 3) for i, b in enumerate(base)])
    _write(tmp_path / "bm25/dl.json", base)
    return tmp_path


def _paths(root):
    return (lambda m, o, s, e, t: str(root / f"{o}/{s}/{t}.json")), {"dl": str(root / "bm25/dl.json")}


def test_families_pairing_and_holm(evaluations):
    eval_path, bm25 = _paths(evaluations)
    table = study_significance(*_config(), eval_path, bm25)
    optim = table[table.family == "lion_vs_adamw"]
    assert len(optim) == 6  # one model x one epoch x six table columns
    assert (optim.n == 12).all() and (optim.significant == "yes").all()
    assert optim["diff"].round(6).eq(0.2).all()  # seed jitter averages out in the per-query means
    assert (optim.p_perm_holm >= optim.p_perm).all()
    vs_bm25 = table[table.family == "vs_bm25"]
    # MRR@10 is on dev, which has no BM25 run: 5 columns x 2 optimizers
    assert len(vs_bm25) == 10 and set(vs_bm25.testset) == {"dl"}
    adamw_vs_bm25 = vs_bm25[vs_bm25.system_a == "m/adamw/epoch1"]
    assert (adamw_vs_bm25.significant == "no").all()  # equal means up to the +-0.01 seed jitter, which cancels


def test_system_means_have_intervals_and_seed_spread(evaluations):
    eval_path, bm25 = _paths(evaluations)
    means = system_means(*_config(), eval_path, bm25)
    row = means[(means.system == "m/adamw/epoch1") & (means.measure == "ndcg_cut_10")].iloc[0]
    assert row.n_seeds == 2 and row.n_queries == 12
    assert row.ci_low < row["mean"] < row.ci_high
    assert row.seed_sd == pytest.approx(0.01 * 2 ** 0.5)  # aggregates 0.01 above and below the mean
    assert set(means.system) >= {"bm25", "m/lion/epoch1"}


def test_seeds_must_cover_the_same_queries(evaluations):
    _write(evaluations / "lion/2/dl.json", [0.5] * 11)  # one query short
    eval_path, bm25 = _paths(evaluations)
    with pytest.raises(ValueError, match="seed"):
        study_significance(*_config(), eval_path, bm25)
