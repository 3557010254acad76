import numpy as np
import pandas as pd
import pytest
import torch

from crossopt.evaluate import MEASURES, evaluate_run
from crossopt.rerank import (
    RerankOptions,
    _Encoded,
    _prefetched,
    _tokenize,
    length_sorted_batches,
    load_cross_encoder,
    rerank_to_file,
    score_pairs,
)
from crossopt.smoke import make_testset, make_training_tables, make_world
from crossopt.tiny_models import build_tiny_model
from crossopt.trec import Qrel, qrels_to_dict, read_run, run_to_dict

SPEC = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
        "vocab_size": 300, "max_position_embeddings": 64}
MAX_LENGTH = 48  # short enough that some pairs are truncated


def _train_briefly(folder, tables, steps=150):
    """A few AdamW steps on the smoke triplets: a random model's scores differ by ~1e-4,
    too little for a ranking comparison to mean anything; after training they spread by ~1."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    passages = dict(zip(tables["corpus"]["passage_id"], tables["corpus"]["passage"]))
    queries = dict(zip(tables["queries"]["query_id"], tables["queries"]["query"]))
    pairs = []
    for row in tables["triplets"].itertuples():
        pairs += [(queries[row.query_id], passages[row.positive_id], 1.0),
                  (queries[row.query_id], passages[row.negative_id], 0.0)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = np.random.default_rng(0)
    model.train()
    for _ in range(steps):
        batch = [pairs[i] for i in generator.choice(len(pairs), 32, replace=False)]
        features = tokenizer([q for q, _, _ in batch], [p for _, p, _ in batch], padding=True, truncation=True,
                             max_length=MAX_LENGTH, return_tensors="pt")
        logits = model(**features).logits.squeeze(-1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([y for *_, y in batch]))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(folder)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """A smoke test set (every query against the whole corpus) and its qrels."""
    world = make_world(3, 20)
    tables = make_training_tables(world, 3, 200)
    corpus, topics, qrels = make_testset(world, 5, n_queries=5, distractors=4, background=20, graded=True)
    rows = [(qid, doc["_id"], rank, 0.0, text, doc["text"])
            for qid, text in sorted(topics.items()) for rank, doc in enumerate(corpus, start=1)]
    candidates = pd.DataFrame(rows, columns=["qid", "docid", "rank", "score", "query", "passage"])
    # one very long passage so length sorting has something to reorder and truncation happens
    candidates.loc[3, "passage"] = " ".join([candidates.loc[3, "passage"]] * 6)
    path = tmp_path_factory.mktemp("candidates") / "candidates.parquet"
    candidates.to_parquet(path, index=False)
    texts = tables["corpus"]["passage"].tolist() + tables["queries"]["query"].tolist()
    return {"candidates": candidates, "path": path, "tables": tables, "texts": texts,
            "qrels": qrels_to_dict(Qrel(q, d, g) for q, d, g in qrels)}


@pytest.fixture(scope="module", params=["bert", "modernbert"])
def model_dir(request, smoke, tmp_path_factory):
    folder = build_tiny_model(request.param, SPEC, smoke["texts"], tmp_path_factory.mktemp(request.param) / "m", 0)
    _train_briefly(folder, smoke["tables"])
    return folder


def _rerank(model_dir, smoke, tmp_path, name, options, batch_size=16):
    output = tmp_path / f"{name}.trec"
    rerank_to_file(model_dir, smoke["path"], output, batch_size, MAX_LENGTH, "t", options)
    return output


def _measures(path, qrels):
    return evaluate_run(run_to_dict(read_run(path)), qrels)["aggregate"]


def test_optimized_ranks_as_the_naive_fp32_path(model_dir, smoke, tmp_path):
    naive = _rerank(model_dir, smoke, tmp_path, "naive", {"mode": "naive"})
    optimized = _rerank(model_dir, smoke, tmp_path, "optimized", {"mode": "optimized"}, batch_size=7)
    naive_run, optimized_run = run_to_dict(read_run(naive)), run_to_dict(read_run(optimized))
    assert {q: set(d) for q, d in naive_run.items()} == {q: set(d) for q, d in optimized_run.items()}
    assert sum(map(len, naive_run.values())) == len(smoke["candidates"])
    a, b = _measures(naive, smoke["qrels"]), _measures(optimized, smoke["qrels"])
    for measure in MEASURES:
        assert abs(a[measure] - b[measure]) <= 0.002, measure


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precision_keeps_the_head_in_float32(model_dir, smoke, precision):
    """The GPU's precisions, run on the CPU. How far they move the measures depends on
    how well the model separates passages, so that is checked on the trained smoke
    checkpoints by `bench/benchmark.py --rankings`, not on this briefly trained model."""
    model = load_cross_encoder(model_dir, MAX_LENGTH)
    heads = {name: type(module) for name, module in model.model.named_modules()}
    queries, passages = smoke["candidates"]["query"].tolist(), smoke["candidates"]["passage"].tolist()
    fp32 = np.array(score_pairs(model, queries, passages, 16, RerankOptions(mode="naive")))
    half = np.array(score_pairs(model, queries, passages, 16, RerankOptions(precision=precision)))
    assert not np.array_equal(fp32, half)  # autocast did run
    assert np.abs(fp32 - half).max() < 0.05 * (np.abs(fp32).max() + 1)
    # a half-precision classifier output would put scores on a coarse grid full of ties
    assert len(set(half.tolist())) >= 0.95 * len(set(fp32.tolist()))
    assert {name: type(module) for name, module in model.model.named_modules()} == heads  # head restored


def test_scores_follow_input_order(model_dir, smoke):
    """Length-sorted batches, chunks and the prefetch thread all give each pair its own score."""
    model = load_cross_encoder(model_dir, MAX_LENGTH)
    queries, passages = smoke["candidates"]["query"].tolist(), smoke["candidates"]["passage"].tolist()
    reference = np.array(score_pairs(model, queries, passages, 1, RerankOptions(mode="naive")))  # no padding at all
    for options in (RerankOptions(), RerankOptions(sort_by_length=False), RerankOptions(chunk_size=13),
                    RerankOptions(prefetch=True, chunk_size=50)):
        scores = np.array(score_pairs(model, queries, passages, 16, options))
        np.testing.assert_allclose(scores, reference, rtol=1e-5, atol=1e-5, err_msg=str(options))
    # the old path: sentence-transformers' CrossEncoder.predict
    predicted = model.predict(list(zip(queries, passages)), batch_size=16, activation_fn=torch.nn.Identity(),
                              show_progress_bar=False)
    np.testing.assert_allclose(predicted, reference, rtol=1e-5, atol=1e-5)
    assert reference.std() > 0.1


def test_same_inputs_give_identical_run_files(model_dir, smoke, tmp_path):
    first = _rerank(model_dir, smoke, tmp_path, "first", None)
    second = _rerank(model_dir, smoke, tmp_path, "second", {"mode": "optimized", "batch_size": 64})
    threaded = _rerank(model_dir, smoke, tmp_path, "threaded", {"prefetch": True})
    assert first.read_bytes() == second.read_bytes() == threaded.read_bytes()


def test_length_sorted_batches():
    lengths = np.array([5, 9, 5, 2, 9, 7])
    batches = length_sorted_batches(lengths, 4)
    assert [b.tolist() for b in batches] == [[1, 4, 5, 0], [2, 3]]  # longest first, ties in input order
    assert [b.tolist() for b in length_sorted_batches(lengths, 4, sort_by_length=False)] == [[0, 1, 2, 3], [4, 5]]
    with pytest.raises(ValueError, match="batch_size"):
        length_sorted_batches(lengths, 0)


def test_padding_matches_the_tokenizer(model_dir):
    model = load_cross_encoder(model_dir, MAX_LENGTH)
    tokenizer = model.tokenizer
    queries, passages = ["a b", "c", "d e f g"], ["x y z", "y " * 80, "z"]
    keys = tuple(k for k in ("input_ids", "token_type_ids") if k in tokenizer.model_input_names or k == "input_ids")
    before = (tokenizer.backend_tokenizer.truncation, tokenizer.backend_tokenizer.padding)
    encoded = _Encoded(_tokenize(tokenizer, queries, passages, MAX_LENGTH, keys), keys)
    # the backend's settings are restored for the tokenizer's other users
    assert (tokenizer.backend_tokenizer.truncation, tokenizer.backend_tokenizer.padding) == before
    index = np.array([2, 0, 1])
    padded = encoded.pad(index, {"input_ids": tokenizer.pad_token_id, "token_type_ids": 0})
    expected = tokenizer([queries[i] for i in index], [passages[i] for i in index], truncation="longest_first",
                         max_length=MAX_LENGTH, padding=True, return_tensors="pt")
    for key in (*keys, "attention_mask"):
        assert torch.equal(padded[key], expected[key]), key
    assert encoded.pad(index, {"input_ids": 0}, multiple=8)["input_ids"].shape[1] % 8 == 0


def test_prefetch_thread_raises_errors_in_the_caller():
    def failing():
        yield 1
        raise RuntimeError("tokenizer broke")

    with pytest.raises(RuntimeError, match="tokenizer broke"):
        list(_prefetched(failing(), depth=2))
    assert list(_prefetched(iter(range(10)), depth=2)) == list(range(10))
    stopped_early = _prefetched(iter(range(100)), depth=2)
    assert next(stopped_early) == 0
    stopped_early.close()  # joins the thread without draining it


def test_options():
    section = {"backend": "local", "batch_size": 64, "mode": "naive"}  # not every key is a scoring option
    assert RerankOptions.from_config(section) == RerankOptions(mode="naive")
    assert RerankOptions.from_config(None) == RerankOptions()
    for bad in ({"mode": "fast"}, {"precision": "fp8"}, {"chunk_size": 0}, {"prefetch": "yes"}):
        with pytest.raises(ValueError, match="rerank"):
            RerankOptions(**bad)


def test_empty_and_mismatched_inputs(model_dir):
    model = load_cross_encoder(model_dir, MAX_LENGTH)
    assert score_pairs(model, [], [], 8) == []
    with pytest.raises(ValueError, match="2 queries but 1 passages"):
        score_pairs(model, ["a", "b"], ["x"], 8)


@pytest.mark.parametrize("mode", ["naive", "optimized"])
def test_the_light_loader_scores_exactly_as_the_cross_encoder(model_dir, smoke, mode):
    """rerank_to_file loads checkpoints with transformers alone (load_scorer); every pair must
    get the very same logit as through sentence-transformers' CrossEncoder."""
    from crossopt.rerank import load_scorer

    queries, passages = smoke["candidates"]["query"].tolist(), smoke["candidates"]["passage"].tolist()
    options = RerankOptions(mode=mode)
    via_cross_encoder = score_pairs(load_cross_encoder(model_dir, MAX_LENGTH), queries, passages, 16, options)
    scorer = load_scorer(model_dir, MAX_LENGTH)
    assert next(scorer.model.parameters()).dtype == torch.float32
    assert score_pairs(scorer, queries, passages, 16, options) == via_cross_encoder


def test_one_job_reranks_every_checkpoint_and_test_set_as_separate_jobs_would(model_dir, smoke, tmp_path,
                                                                               monkeypatch):
    """rerank_checkpoints (the reranking rule's path: all epochs and test sets of a run in one
    job) loads each checkpoint once and writes, for each (checkpoint, candidates table), the
    very file that reranking that pair alone writes, with that checkpoint's tag."""
    import shutil

    import crossopt.rerank as rerank_module

    other = smoke["candidates"][smoke["candidates"]["qid"] != smoke["candidates"]["qid"].iloc[0]].copy()
    other["query"] = other["query"] + " variant"
    other_path = tmp_path / "other.parquet"
    other.to_parquet(other_path, index=False)
    # a second "epoch": the same model, trained a little further
    second = shutil.copytree(model_dir, tmp_path / "second")
    _train_briefly(second, smoke["tables"], steps=20)
    tables = [smoke["path"], other_path]
    alone = {}
    for epoch, folder in ((1, model_dir), (2, second)):
        for j, table in enumerate(tables):
            alone[epoch, j] = tmp_path / f"alone-{epoch}-{j}.trec"
            rerank_to_file(folder, table, alone[epoch, j], 16, MAX_LENGTH, f"t-e{epoch}", None)

    loads = []
    real = rerank_module.load_scorer
    monkeypatch.setattr(rerank_module, "load_scorer", lambda *a, **k: loads.append(a[0]) or real(*a, **k))
    checkpoints = [rerank_module.Checkpoint(folder, f"t-e{epoch}", [tmp_path / f"job-{epoch}-{j}.trec"
                                                                   for j in range(len(tables))])
                   for epoch, folder in ((1, model_dir), (2, second))]
    counts = rerank_module.rerank_checkpoints(checkpoints, tables, 16, MAX_LENGTH, None)
    assert loads == [model_dir, second]
    assert counts == [[len(smoke["candidates"]), len(other)]] * 2
    for epoch in (1, 2):
        for j in range(len(tables)):
            assert (tmp_path / f"job-{epoch}-{j}.trec").read_bytes() == alone[epoch, j].read_bytes()
    assert alone[1, 0].read_bytes() != alone[2, 0].read_bytes() != alone[2, 1].read_bytes()
    with pytest.raises(ValueError, match="1 run files for 2 candidates tables"):
        rerank_module.rerank_checkpoints([rerank_module.Checkpoint(model_dir, "t", [tmp_path / "x.trec"])],
                                         tables, 16, MAX_LENGTH, None)
