import subprocess
import sys
from pathlib import Path

from crossopt.tiny_models import train_tokenizer, wordpiece_vocabulary

TEXTS = ["Lion beats AdamW", "AdamW beats lion", "a cross encoder reranks passages", "zzz"] * 3
SPEC = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
        "vocab_size": 200, "max_position_embeddings": 64}


def test_vocabulary_is_ordered_by_frequency_then_alphabet():
    vocab = wordpiece_vocabulary(["b a a", "c b a"], 100)
    words = [t for t in sorted(vocab, key=vocab.get) if len(t) > 1 and not t.startswith(("[", "##"))]
    assert words == []  # single-letter words are already character tokens
    vocab = wordpiece_vocabulary(["bb aa aa", "cc bb aa"], 100)
    words = [t for t in sorted(vocab, key=vocab.get) if len(t) > 1 and not t.startswith(("[", "##"))]
    assert words == ["aa", "bb", "cc"]


def test_unknown_words_are_spelled_not_unk():
    tokenizer = train_tokenizer(TEXTS, 200)
    tokens = tokenizer.tokenize("lions encode")
    assert "[UNK]" not in tokens and tokens[0] == "lion"


def test_builds_in_separate_processes_are_identical(tmp_path):
    """Two processes must build byte-identical tokenizers and weights (hash-seed independent)."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parents[1])!r}); "
            "from crossopt.tiny_models import build_tiny_model; "
            f"build_tiny_model('bert', {SPEC!r}, {TEXTS!r}, sys.argv[1], seed=3)")
    for name in ("a", "b"):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], check=True)
    for file in ("tokenizer.json", "model.safetensors", "config.json"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file
