"""Tiny models of the study's architecture families, built offline from config.

The smoke study cannot download the hub models, so each model key gets a small
randomly initialised model of the same family (BERT for MiniLM and GTE,
ModernBERT for ModernBERT) with a WordPiece tokenizer trained on the toy
collection. The result is saved in Hugging Face format and loads with
`CrossEncoder(path)` exactly as a hub checkpoint does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertTokenizerFast,
    ModernBertConfig,
    ModernBertForSequenceClassification,
)

from .atomic import atomic_path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def wordpiece_vocabulary(texts: Iterable[str], vocab_size: int) -> dict[str, int]:
    """A WordPiece vocabulary built deterministically from `texts`.

    The `tokenizers` WordPiece trainer breaks frequency ties differently from one
    process to the next (it iterates over a randomly seeded hash map), so two
    builds of the "same" tiny model would get different token ids. Here the
    vocabulary is the special tokens, every character (as a word start and as a
    `##` continuation, so any word can be spelled), then whole words by
    descending frequency with ties broken alphabetically.
    """
    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts: dict[str, int] = {}
    for text in texts:
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)):
            counts[word] = counts.get(word, 0) + 1
    characters = sorted({ch for word in counts for ch in word})
    tokens = SPECIAL_TOKENS + characters + [f"##{ch}" for ch in characters]
    if len(tokens) > vocab_size:
        raise ValueError(f"vocab_size {vocab_size} is below the {len(tokens)} special and character tokens needed")
    known = set(tokens)
    for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if len(tokens) >= vocab_size:
            break
        if word not in known:
            tokens.append(word)
            known.add(word)
    return {token: index for index, token in enumerate(tokens)}


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> BertTokenizerFast:
    """An uncased WordPiece tokenizer over `texts`, wrapped as a BERT tokenizer."""
    tokenizer = Tokenizer(models.WordPiece(wordpiece_vocabulary(texts, vocab_size), unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return BertTokenizerFast(tokenizer_object=tokenizer, do_lower_case=True)


def build_model(family: str, tokenizer: BertTokenizerFast, spec: dict, seed: int):
    """A randomly initialised sequence classifier with one output (a relevance logit)."""
    torch.manual_seed(seed)
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=spec["hidden_size"],
        num_hidden_layers=spec["num_hidden_layers"],
        num_attention_heads=spec["num_attention_heads"],
        intermediate_size=spec["intermediate_size"],
        max_position_embeddings=spec["max_position_embeddings"],
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    if family == "bert":
        return BertForSequenceClassification(BertConfig(**common))
    if family == "modernbert":
        config = ModernBertConfig(
            **common,
            cls_token_id=tokenizer.cls_token_id,
            sep_token_id=tokenizer.sep_token_id,
            bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id,
            # flash-attn is not available on CPU machines; sdpa is exact.
            attn_implementation="sdpa",
        )
        return ModernBertForSequenceClassification(config)
    raise ValueError(f"unknown tiny model family {family!r} (expected bert or modernbert)")


def build_tiny_model(family: str, spec: dict, texts: Iterable[str], output_dir: str | Path, seed: int) -> Path:
    """Train the tokenizer, build the model and save both to `output_dir` atomically."""
    output_dir = Path(output_dir)
    tokenizer = train_tokenizer(texts, spec["vocab_size"])
    tokenizer.model_max_length = spec["max_position_embeddings"]
    model = build_model(family, tokenizer, spec, seed)
    with atomic_path(output_dir, directory=True) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    return output_dir
