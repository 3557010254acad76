"""The NanoBEIR evaluator reads its hub dataset at the commit the config pins.

Offline, a local folder with NanoBEIR's layout (subsets corpus, queries, qrels, bm25;
one split per dataset) stands in for `sentence-transformers/NanoBEIR-en`.
"""

import os

import pandas as pd
import pytest

from crossopt.data import DataError
from crossopt.train import make_evaluator

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def nanobeir_folder(tmp_path):
    tables = {
        "corpus": pd.DataFrame({"_id": ["d1", "d2", "d3"], "text": ["cats purr", "dogs bark", "fish swim"]}),
        "queries": pd.DataFrame({"_id": ["q1", "q2"], "text": ["what sound do cats make", "who barks"]}),
        "qrels": pd.DataFrame({"query-id": ["q1", "q2"], "corpus-id": ["d1", "d2"]}),
        "bm25": pd.DataFrame({"query-id": ["q1", "q2"], "corpus-ids": [["d2", "d1", "d3"], ["d3", "d1"]]}),
    }
    card = ["---", "configs:"]
    for subset, table in tables.items():
        (tmp_path / subset).mkdir()
        table.to_parquet(tmp_path / subset / "NanoMSMARCO.parquet")
        card += [f"- config_name: {subset}", "  data_files:", "  - split: NanoMSMARCO",
                 f"    path: {subset}/NanoMSMARCO.parquet"]
    (tmp_path / "README.md").write_text("\n".join(card + ["---", ""]))
    return tmp_path


def test_evaluator_reads_a_dataset_of_nanobeir_layout(nanobeir_folder):
    spec = {"type": "nanobeir", "datasets": ["msmarco"], "dataset_id": str(nanobeir_folder), "revision": SHA}
    evaluator = make_evaluator(spec, heldout=None, batch_size=4, seed=1)
    assert evaluator.name == "NanoBEIR_R100_mean"
    (inner,) = evaluator.evaluators
    samples = {s["query"]: s for s in inner.samples}
    assert samples["what sound do cats make"]["positive"] == ["cats purr"]
    assert samples["what sound do cats make"]["documents"] == ["dogs bark", "cats purr", "fish swim"]
    assert samples["who barks"]["documents"] == ["fish swim", "cats purr"]


def test_an_unreachable_pinned_dataset_names_dataset_subset_and_revision(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache: nothing to fall back on
    spec = {"type": "nanobeir", "datasets": ["msmarco"], "revision": SHA}
    with pytest.raises(DataError, match=rf"subset 'corpus', split 'NanoMSMARCO' of "
                                        rf"'sentence-transformers/NanoBEIR-en' at revision {SHA}"):
        make_evaluator(spec, heldout=None, batch_size=4, seed=1)
