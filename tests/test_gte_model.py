"""gte-multilingual-base's architecture (crossopt.gte_model) through the workflow's loading
paths, offline: a random-init checkpoint of the real architecture, saved the way the hub
checkpoint is laid out (model_type "new", an auto_map pointing at the hub's code), loaded
by training's and reranking's loaders, with the position buffers, padding and gradients
checked; and the model-code record that carries the choice of code from training to
reranking."""

import json
import math

import pandas as pd
import pytest
import torch
from safetensors import safe_open
from transformers import BertTokenizerFast

from crossopt import gte_model
from crossopt.model_code import MODEL_CODE_FILE, loading_kwargs, model_code, read_model_code, write_model_code
from crossopt.rerank import load_cross_encoder as rerank_loader
from crossopt.rerank import rerank_to_file
from crossopt.tiny_models import train_tokenizer
from crossopt.train import export_checkpoint
from crossopt.train import load_cross_encoder as train_loader
from crossopt.trec import read_run

TEXTS = [
    "what is the boiling point of water at sea level",
    "water boils at one hundred degrees celsius at sea level pressure",
    "the capital of france is paris a city on the seine",
    "how many legs does a spider have",
    "spiders have eight legs and two body segments",
    "lion and adamw are optimizers for training neural networks",
] * 5
MAX_LENGTH = 40
# The hub checkpoint's config names the remote code like this; with local_code it must never be used.
HUB_AUTO_MAP = {
    "AutoConfig": "Alibaba-NLP/new-impl--configuration.NewConfig",
    "AutoModel": "Alibaba-NLP/new-impl--modeling.NewModel",
    "AutoModelForSequenceClassification": "Alibaba-NLP/new-impl--modeling.NewForSequenceClassification",
}
SETTINGS = {"max_length": MAX_LENGTH, "local_code": "gte"}


def make_checkpoint(folder, rope_scaling=None, seed=0):
    """A random-init gte sequence classifier with the real architecture, saved to `folder`."""
    # Like the checkpoint's XLM-R tokenizer: no token_type_ids (type_vocab_size is 1).
    tokenizer = BertTokenizerFast(tokenizer_object=train_tokenizer(TEXTS, vocab_size=200).backend_tokenizer,
                                  do_lower_case=True, model_input_names=["input_ids", "attention_mask"])
    config = gte_model.GteConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=48, max_position_embeddings=64, type_vocab_size=1, rope_theta=160000.0,
        rope_scaling=rope_scaling, pad_token_id=tokenizer.pad_token_id, num_labels=1,
        # A wide init so that scores of different inputs differ clearly.
        initializer_range=0.3, hidden_dropout_prob=0.1,
    )
    config.auto_map = HUB_AUTO_MAP
    torch.manual_seed(seed)
    model = gte_model.GteForSequenceClassification(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model


@pytest.fixture(params=[None, {"type": "ntk", "factor": 2.0}, {"type": "ntk", "factor": 4.0, "mixed_b": 0.7}],
                ids=["rope", "ntk", "ntk-mixed"])
def checkpoint(request, tmp_path):
    folder = tmp_path / "gte"
    model = make_checkpoint(folder, request.param)
    return folder, model


def buffers_of(model):
    embeddings = model.new.embeddings
    rotary = embeddings.rotary_emb
    return {"position_ids": embeddings.position_ids, "inv_freq": rotary.inv_freq,
            "cos_cached": rotary.cos_cached, "sin_cached": rotary.sin_cached}


def test_position_buffers_equal_their_definition_after_save_and_reload(checkpoint):
    folder, built = checkpoint
    with safe_open(str(folder / "model.safetensors"), "pt") as saved:
        names = set(saved.keys())
    # Non-persistent: not in the file, so the loader must recompute them.
    assert not {n for n in names if n.rsplit(".", 1)[-1] in buffers_of(built)}
    loaded = train_loader(str(folder), SETTINGS).model
    assert type(loaded) is gte_model.GteForSequenceClassification
    inv_freq, cos, sin = gte_model.rotary_tables(loaded.config)
    expected = {"position_ids": torch.arange(64), "inv_freq": inv_freq, "cos_cached": cos, "sin_cached": sin}
    for name, buffer in buffers_of(loaded).items():
        assert torch.equal(buffer, expected[name]), name
        assert torch.equal(buffer, buffers_of(built)[name]), name
    # Every saved weight came back unchanged.
    for name, tensor in built.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_rotary_tables_follow_the_rope_formula():
    config = gte_model.GteConfig(hidden_size=32, num_attention_heads=4, max_position_embeddings=64, rope_theta=1e4)
    inv_freq, cos, sin = gte_model.rotary_tables(config)
    d = 8  # head dimension
    assert cos.shape == sin.shape == (64, d)
    for position, i in [(0, 0), (5, 1), (63, 3)]:
        angle = position * 10000.0 ** (-2 * i / d)
        assert cos[position, i].item() == pytest.approx(math.cos(angle), abs=1e-5)
        assert cos[position, i + d // 2].item() == pytest.approx(math.cos(angle), abs=1e-5)
        assert sin[position, i].item() == pytest.approx(math.sin(angle), abs=1e-5)
    # Fixed NTK scaling by 4: a table 4x as long, every frequency lower.
    scaled = gte_model.GteConfig(hidden_size=32, num_attention_heads=4, max_position_embeddings=64, rope_theta=1e4,
                                 rope_scaling={"type": "ntk", "factor": 4.0})
    scaled_freq, scaled_cos, _ = gte_model.rotary_tables(scaled)
    assert scaled_cos.shape == (256, d)
    assert scaled_freq[0].item() == pytest.approx(4.0 ** (-2 / d))  # (base*4)^0 / 4^(2/d)
    assert torch.all(scaled_freq < inv_freq)


def test_forward_and_backward_on_padded_input(checkpoint):
    folder, _ = checkpoint
    cross_encoder = train_loader(str(folder), SETTINGS)
    model, tokenizer = cross_encoder.model, cross_encoder.tokenizer
    pairs = [("how many legs does a spider have", "spiders have eight legs and two body segments, "
                                                  "a head and an abdomen, and they spin silk"),
             ("boiling point", "water")]
    batch = tokenizer([q for q, _ in pairs], [p for _, p in pairs], padding=True, truncation=True,
                      max_length=MAX_LENGTH, return_tensors="pt")
    assert "token_type_ids" not in batch
    assert batch["attention_mask"][1].sum() < batch["attention_mask"].shape[1]  # the second pair is padded
    model.eval()
    with torch.no_grad():
        padded = model(**batch).logits.squeeze(-1)
        alone = [model(**tokenizer([q], [p], truncation=True, max_length=MAX_LENGTH, return_tensors="pt")).logits.item() for q, p in pairs]
    # Padding changes nothing: the padded pair scores as it does alone.
    assert padded.tolist() == pytest.approx(alone, abs=1e-5)
    assert abs(alone[0] - alone[1]) > 1e-3  # and the two pairs score differently
    model.train()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(**batch).logits.squeeze(-1),
                                                                torch.tensor([1.0, 0.0]))
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    for name in ("new.encoder.layer.0.attention.qkv_proj.weight", "new.encoder.layer.1.mlp.up_gate_proj.weight",
                 "new.embeddings.word_embeddings.weight", "classifier.weight"):
        assert grads[name].abs().sum() > 0, name
    # The padding token's embedding gets no gradient (padding_idx), as in the checkpoint's architecture.
    assert grads["new.embeddings.word_embeddings.weight"][tokenizer.pad_token_id].abs().sum() == 0


def test_saved_gte_checkpoint_reloads_and_scores_in_the_rerank_path(tmp_path):
    trainer_checkpoint = tmp_path / "checkpoint-10"
    built = make_checkpoint(trainer_checkpoint, {"type": "ntk", "factor": 2.0}, seed=3)
    (trainer_checkpoint / "optimizer.pt").write_bytes(b"resume only")
    exported = tmp_path / "epoch1"
    export_checkpoint(trainer_checkpoint, exported, model_code(SETTINGS))
    assert not (exported / "optimizer.pt").exists()
    assert read_model_code(exported) == {"local_code": "gte", "trust_remote_code": False, "code_revision": None}

    candidates = pd.DataFrame({
        "qid": ["q1"] * 3 + ["q2"] * 2,
        "docid": ["d1", "d2", "d3", "d4", "d5"],
        "rank": [1, 2, 3, 1, 2],
        "score": [9.0, 8.0, 7.0, 9.0, 8.0],
        "query": ["how many legs does a spider have"] * 3 + ["boiling point of water"] * 2,
        "passage": [TEXTS[4], TEXTS[2], TEXTS[5], TEXTS[1], TEXTS[3]],
    })
    candidates.to_parquet(tmp_path / "candidates.parquet")
    run_path = tmp_path / "run.trec"
    pairs = rerank_to_file(exported, tmp_path / "candidates.parquet", run_path, 2, MAX_LENGTH, "gte",
                           {"mode": "naive", "precision": "fp32"})
    assert pairs == 5
    run = {(e.qid, e.docid): e.score for e in read_run(run_path)}
    assert set(run) == set(zip(candidates["qid"], candidates["docid"]))
    # The scores are the saved model's, computed directly.
    loaded = rerank_loader(exported, MAX_LENGTH)
    assert type(loaded.model) is gte_model.GteForSequenceClassification
    built.eval()
    tokenizer = loaded.tokenizer
    with torch.no_grad():
        for row in candidates.itertuples():
            inputs = tokenizer([row.query], [row.passage], truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
            direct = built(**inputs).logits.item()  # the run holds raw logits
            assert run[(row.qid, row.docid)] == pytest.approx(direct, abs=1e-4)


def test_model_code_settings_and_records(tmp_path):
    assert model_code({}) == {"local_code": None, "trust_remote_code": False, "code_revision": None}
    with pytest.raises(ValueError, match="exclude each other"):
        model_code({"local_code": "gte", "trust_remote_code": True})
    with pytest.raises(ValueError, match="unknown local_code 'bert'"):
        model_code({"local_code": "bert"})
    revision = "a" * 40
    kwargs = loading_kwargs(model_code({"trust_remote_code": True, "code_revision": revision}))
    assert kwargs == {"trust_remote_code": True, "config_kwargs": {"code_revision": revision},
                      "model_kwargs": {"code_revision": revision}}
    assert loading_kwargs(model_code({"local_code": "gte"})) == {"trust_remote_code": False}
    assert read_model_code(tmp_path) == {}  # a folder without a record needs no extra code
    write_model_code(tmp_path, model_code({"local_code": "gte"}))
    assert json.loads((tmp_path / MODEL_CODE_FILE).read_text())["local_code"] == "gte"
    (tmp_path / MODEL_CODE_FILE).write_text('{"local_code": "nope"}')
    with pytest.raises(ValueError, match=f"{MODEL_CODE_FILE}: not a valid model-code record"):
        read_model_code(tmp_path)
