"""Bad input, as a user's real files and mistakes would bring it, at every reader and at
the entry point of every rule that reads it.

Each row of CASES writes its inputs into a fresh folder, calls one entry point (the
function a rule's script calls, or the command a shell rule runs) and states either the
error it must end in (type and a pattern of its message: the file, the line where there
is one, what to do) or, for inputs that are accepted, what the result must be. After an
error, none of the entry point's outputs may exist.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest
import yaml

from crossopt.config import ConfigError
from crossopt.data import DataError
from crossopt.evaluate import EvaluationError
from crossopt.trec import TrecFormatError

ROOT = Path(__file__).resolve().parent.parent
BOM = "\ufeff".encode()


def script(name: str):
    """A Snakemake script of scripts/ as a module (its main() is the rule's entry point)."""
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- entry points, each called in a folder that holds the case's files


def evaluate(folder: Path) -> dict:
    """rules/evaluate.smk (rule evaluate and evaluate_first_stage): scripts/evaluate.py."""
    spec = {"relevance_level": 1, "missing_queries": "zero", "extra_relevance_levels": [2]}
    script("evaluate").main(str(folder / "run.trec"), str(folder / "qrels.txt"), str(folder / "eval.json"),
                            "t", "s", spec, [10])
    return json.loads((folder / "eval.json").read_text())


EVALUATE_OUTPUTS = ["eval.json"]


def prepare_beir(folder: Path) -> dict:
    """rules/retrieval.smk rule prepare_local_testset: scripts/testset_beir.py."""
    script("testset_beir").main(str(folder / "beir"), "test", str(folder / "out" / "docs.jsonl"),
                                str(folder / "out" / "topics.tsv"), str(folder / "out" / "qrels.txt"))
    return {"topics": (folder / "out" / "topics.tsv").read_text(), "qrels": (folder / "out" / "qrels.txt").read_text()}


PREPARE_OUTPUTS = ["out/docs.jsonl", "out/topics.tsv", "out/qrels.txt"]


def candidates(folder: Path) -> pd.DataFrame:
    """rules/retrieval.smk rule candidates: scripts/candidates.py."""
    script("candidates").main(str(folder / "run.trec"), str(folder / "topics.tsv"), str(folder / "docs.jsonl"),
                              "local", str(folder / "candidates.parquet"))
    return pd.read_parquet(folder / "candidates.parquet")


def check_run(folder: Path) -> str:
    """rules/retrieval.smk rule bm25_search: its shell command ends in `crossopt.cli check-run`."""
    done = subprocess.run([sys.executable, "-m", "crossopt.cli", "check-run", str(folder / "run.trec")],
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise TrecFormatError(done.stderr.strip().splitlines()[-1])
    return done.stdout


def rerank(folder: Path) -> str:
    """rules/rerank.smk rule rerank: scripts/rerank.py with the local backend."""
    script("rerank").main([str(folder / "model")], [1], ["t"], [str(folder / "candidates.parquet")],
                          [str(folder / "run.trec")], str(folder / "cost.json"), 8, 32, "tag", "local",
                          {"model": "m", "optim": "o", "seed": 1}, {}, {"mode": "optimized"})
    return (folder / "run.trec").read_text()


RERANK_OUTPUTS = ["run.trec", "cost.json"]


def validate_config(folder: Path) -> str:
    """The config check every snakemake run starts with, as `validate-config` runs it."""
    done = subprocess.run([sys.executable, "-m", "crossopt.cli", "validate-config", str(folder / "config.yaml")],
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise ConfigError(done.stderr)
    return done.stdout


def validate_configs(*names: str) -> Callable[[Path], str]:
    """`validate-config` on several files of the case's folder, in --configfile's order
    (a name starting with `config/` is one of the repository's own configs)."""
    def entry(folder: Path) -> str:
        paths = [str(ROOT / name) if name.startswith("config/") else str(folder / name) for name in names]
        done = subprocess.run([sys.executable, "-m", "crossopt.cli", "validate-config", *paths],
                              capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            raise ConfigError(done.stderr)
        return done.stdout
    return entry


def rerank_candidates(frame: pd.DataFrame | bytes) -> Callable[[Path], None]:
    """A tiny model and a candidates table (or raw bytes written as the table)."""
    def setup(folder: Path) -> None:
        tiny_model(folder)
        if isinstance(frame, bytes):
            (folder / "candidates.parquet").write_bytes(frame)
        else:
            frame.to_parquet(folder / "candidates.parquet", index=False)
    return setup


def tiny_model(folder: Path) -> Path:
    from crossopt.tiny_models import build_tiny_model

    spec = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
            "vocab_size": 120, "max_position_embeddings": 32}
    return build_tiny_model("bert", spec, ["alpha beta gamma delta", "what is alpha", "beta gamma"] * 20,
                            folder / "model", 0)


def corrupted_weights(folder: Path) -> None:
    """A model folder whose model.safetensors was cut short (a copy that stopped midway)."""
    path = tiny_model(folder)
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    CANDIDATE_FRAME.to_parquet(folder / "candidates.parquet", index=False)


# --- inputs

QRELS = "q1 0 d1 2\nq1 0 d2 0\nq2 0 d3 1\n"
RUN = "q1 Q0 d1 1 2.0 s\nq1 Q0 d2 2 1.0 s\nq2 Q0 d3 1 0.5 s\n"
TOPICS = "q1\tfirst query\nq2\tsecond query\n"
DOCS = "".join(json.dumps({"id": d, "contents": f"text of {d}"}) + "\n" for d in ("d1", "d2", "d3"))


def files(**contents: str | bytes) -> Callable[[Path], None]:
    """A setup that writes each keyword's file (dots as `__`: run__trec -> run.trec)."""
    def setup(folder: Path) -> None:
        for name, text in contents.items():
            path = folder / name.replace("__", ".").replace("_SLASH_", "/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return setup


def beir(corpus: bytes | None = None, queries: bytes | None = None, qrels: bytes | None = None):
    corpus = corpus or b'{"_id": "d1", "title": "", "text": "alpha"}\n{"_id": "d2", "title": "", "text": "beta"}\n'
    queries = queries or b'{"_id": "q1", "text": "alpha?"}\n'
    qrels = qrels if qrels is not None else b"query-id\tcorpus-id\tscore\nq1\td1\t1\n"
    return files(beir_SLASH_corpus__jsonl=corpus, beir_SLASH_queries__jsonl=queries,
                 beir_SLASH_qrels_SLASH_test__tsv=qrels)


def config(edit: Callable[[dict], None] | None = None, text_edit: tuple[str, str] | None = None):
    def setup(folder: Path) -> None:
        text = (ROOT / "config" / "smoke.yaml").read_text()
        if text_edit:
            assert text_edit[0] in text
            text = text.replace(*text_edit)
        if edit:
            data = yaml.safe_load(text)
            edit(data)
            text = yaml.safe_dump(data)
        (folder / "config.yaml").write_text(text)
    return setup


def empty_candidates(folder: Path) -> None:
    pd.DataFrame({"qid": pd.Series(dtype=str), "docid": pd.Series(dtype=str), "rank": pd.Series(dtype="int64"),
                  "score": pd.Series(dtype=float), "query": pd.Series(dtype=str), "passage": pd.Series(dtype=str)}
                 ).to_parquet(folder / "candidates.parquet", index=False)


CANDIDATE_FRAME = pd.DataFrame({"qid": ["q1", "q1"], "docid": ["d1", "d2"], "rank": [1, 2], "score": [2.0, 1.0],
                                "query": ["what is alpha"] * 2, "passage": ["alpha beta", "gamma delta"]})


def nan_model(folder: Path) -> None:
    """A tiny cross-encoder whose classifier weights are NaN, and candidates for it."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from crossopt.tiny_models import build_tiny_model

    spec = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
            "vocab_size": 120, "max_position_embeddings": 32}
    texts = ["alpha beta gamma delta", "what is alpha", "beta gamma"] * 20
    path = build_tiny_model("bert", spec, texts, folder / "model", 0)
    model = AutoModelForSequenceClassification.from_pretrained(path)
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    model.save_pretrained(path)
    pd.DataFrame({"qid": ["q1", "q1"], "docid": ["d1", "d2"], "rank": [1, 2], "score": [2.0, 1.0],
                  "query": ["what is alpha"] * 2, "passage": ["alpha beta", "gamma delta"]}
                 ).to_parquet(folder / "candidates.parquet", index=False)


@dataclass
class Case:
    name: str
    setup: Callable[[Path], None]
    entry: Callable[[Path], object]
    error: type[Exception] | None = None  # None: the input is accepted
    message: str = ""  # regex the error message must match ({folder} is the case's folder)
    outputs: list[str] = field(default_factory=list)  # must not exist after an error
    check: Callable[[object], None] | None = None  # on the result of an accepted input


def _first_query_counts(report: dict) -> None:
    assert set(report["per_query"]) == {"q1", "q2"} and report["n_queries"] == 2
    assert report["per_query"]["q1"]["ndcg_cut_10"] == pytest.approx(1.0)


def _same_as_without_comments(report: dict) -> None:
    assert set(report["per_query"]) == {"q1", "q2"}, report["per_query"].keys()  # no query '#'
    assert report["per_query"]["q1"]["ndcg_cut_10"] == pytest.approx(1.0)


def _overlay_merged(out: str) -> None:
    """`study: {seeds: ...}` alone is an overlay: merged onto smoke.yaml, not a whole config."""
    assert re.search(r"overlay.yaml \(overlay\)", out) and "is valid" in out, out
    assert re.search(r"jobs to run: \d+ trainings \(3 seed\(s\)\)", out), out


QRELS_COMMENT = "# 0 header 1\n" + QRELS
RUN_COMMENT = "# qid Q0 docid\n" + RUN
NULL_QID = CANDIDATE_FRAME.assign(qid=pd.Series(["q1", None], dtype=object))
NULL_PASSAGE = CANDIDATE_FRAME.assign(passage=pd.Series(["alpha beta", None], dtype=object))


def _truncated_parquet() -> bytes:
    import io

    buffer = io.BytesIO()
    CANDIDATE_FRAME.to_parquet(buffer, index=False)
    return buffer.getvalue()[:-30]


CASES = [
    # --- issue 25: inputs that were silent, stale-making or ended in an unclear error
    Case("key repeated in one mapping", config(text_edit=("  use_cpu: true\n", "  use_cpu: true\n  use_cpu: false\n")),
         validate_config, ConfigError, r"config.yaml, line \d+: key 'use_cpu' appears a second time in one mapping "
         r"\(first on line \d+\)"),
    Case("second training block", config(text_edit=("rerank:\n", "training:\n  logging_steps: 100\nrerank:\n")),
         validate_config, ConfigError, r"key 'training' appears a second time in one mapping"),
    Case("dataloader_seed, which nothing reads", config(edit=lambda c: c["training"].update(dataloader_seed=3)),
         validate_config, ConfigError, r"unknown key 'dataloader_seed' in 'training'"),
    Case("recall depth beyond the retrieval depth",
         config(edit=lambda c: c["testsets"]["smoke-dl"].update(recall_depths=[500])), validate_config, ConfigError,
         r"'testsets.smoke-dl.recall_depths': \[500\] exceed the retrieval depth 50"),
    Case("epochs 3.0", config(text_edit=("epochs: 3", "epochs: 3.0")), validate_config, ConfigError,
         r"'study.epochs': 3.0 is not of type 'integer' \(write 3, without the decimal point\)"),
    Case("seed 12.0", config(text_edit=("seeds: [12, 13]", "seeds: [12.0, 13]")), validate_config, ConfigError,
         r"'study.seeds.0': 12.0 is not of type 'integer' \(write 12"),
    Case("batch size 16.0", config(text_edit=("batch_size: 16", "batch_size: 16.0")), validate_config, ConfigError,
         r"'training.batch_size': 16.0 is not of type 'integer'"),
    Case("learning rate 1e-5 (a string in YAML 1.1)", config(text_edit=("learning_rate: 5.0e-4", "learning_rate: 1e-5")),
         validate_config, ConfigError, r"'models.minilm.learning_rate': '1e-5' is not of type 'number' \(YAML 1.1 reads "
         r"1e-5 as text .*write 1.0e-5\)"),
    Case("tab-indented YAML", config(text_edit=("  batch_size: 16", "\tbatch_size: 16")), validate_config, ConfigError,
         r"config.yaml, line \d+, column 1: not valid YAML: .* \(YAML does not allow tabs for indentation"),
    Case("overlay that is a list", files(overlay__yaml="- rerank\n- batch_size\n"),
         validate_configs("config/smoke.yaml", "overlay.yaml"), ConfigError,
         r"overlay.yaml: the top level of a config must be a mapping \(key: value lines\), not a list"),
    Case("overlay with a study section", files(overlay__yaml="study:\n  seeds: [12, 13, 14]\n"),
         validate_configs("config/smoke.yaml", "overlay.yaml"), check=_overlay_merged),
    Case("'#' comment lines in qrels and run", files(run__trec=RUN_COMMENT, qrels__txt=QRELS_COMMENT), evaluate,
         check=_same_as_without_comments),
    Case("empty topics file", files(run__trec=RUN, topics__tsv="", docs__jsonl=DOCS), candidates, TrecFormatError,
         r"{folder}/topics.tsv: no topics \(the file is empty\)", ["candidates.parquet"]),
    Case("topic id with a space", files(run__trec=RUN, topics__tsv="q 1\tfirst query\n", docs__jsonl=DOCS),
         candidates, TrecFormatError, r"{folder}/topics.tsv, line 1: query id 'q 1' contains a space",
         ["candidates.parquet"]),
    Case("empty query text", files(run__trec=RUN, topics__tsv="q1\t \nq2\tsecond\n", docs__jsonl=DOCS),
         candidates, TrecFormatError, r"{folder}/topics.tsv, line 1: query 'q1' has an empty text",
         ["candidates.parquet"]),
    Case("BEIR query _id with a space", beir(queries=b'{"_id": "q 1", "text": "alpha?"}\n'), prepare_beir, DataError,
         r"beir/queries.jsonl:1: _id 'q 1' is empty or contains whitespace", PREPARE_OUTPUTS),
    Case("null qid in the candidates", rerank_candidates(NULL_QID), rerank, DataError,
         r"{folder}/candidates.parquet, row 1: qid is null .*--forcerun candidates", RERANK_OUTPUTS),
    Case("null passage in the candidates", rerank_candidates(NULL_PASSAGE), rerank, DataError,
         r"{folder}/candidates.parquet, row 1: passage is null \(qid 'q1', docid 'd2'\)", RERANK_OUTPUTS),
    Case("truncated candidates parquet", rerank_candidates(_truncated_parquet()), rerank, DataError,
         r"{folder}/candidates.parquet: not a readable candidates table \(\w+: .*--forcerun candidates",
         RERANK_OUTPUTS),
    Case("corrupted model.safetensors", corrupted_weights, rerank, Exception,
         r"{folder}/model: cannot load the model \(SafetensorError: .*the weights file is damaged or truncated",
         RERANK_OUTPUTS),
    # --- the rows of the table that used to end in a normal-looking result
    Case("empty run file", files(run__trec="", qrels__txt=QRELS), evaluate, EvaluationError,
         r"{folder}/run.trec has results for none of the 2 judged queries of {folder}/qrels.txt .*run is empty",
         EVALUATE_OUTPUTS),
    Case("run of another test set", files(run__trec="x1 Q0 d1 1 1.0 s\n", qrels__txt=QRELS), evaluate,
         EvaluationError, r"run.trec has results for none of the 2 judged queries .*'x1'.*another test set",
         EVALUATE_OUTPUTS),
    Case("empty first-stage run", files(run__trec="\n", topics__tsv=TOPICS, docs__jsonl=DOCS), candidates,
         DataError, r"{folder}/run.trec: the first-stage run is empty", ["candidates.parquet"]),
    Case("empty run at the BM25 check", files(run__trec=""), check_run, TrecFormatError,
         r"run.trec is empty: the retrieval found nothing"),
    Case("empty candidate list", empty_candidates, rerank, DataError,
         r"{folder}/candidates.parquet: the candidate table is empty.*--forcerun candidates", RERANK_OUTPUTS),
    Case("empty qrels file", files(run__trec=RUN, qrels__txt=""), evaluate, EvaluationError,
         r"{folder}/qrels.txt has no judgments", EVALUATE_OUTPUTS),
    Case("empty BEIR qrels", beir(qrels=b"query-id\tcorpus-id\tscore\n"), prepare_beir, DataError,
         r"qrels/test.tsv: no judgments below the header", PREPARE_OUTPUTS),
    Case("qrels judging a pair twice", files(run__trec=RUN, qrels__txt=QRELS + "q1 0 d1 0\n"), evaluate,
         TrecFormatError, r"{folder}/qrels.txt, line 4: query 'q1' judges document 'd1' a second time "
         r"\(first on line 1\)", EVALUATE_OUTPUTS),
    Case("BEIR qrels judging a pair twice", beir(qrels=b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td1\t0\n"),
         prepare_beir, DataError, r"qrels/test.tsv:3: pair \(q1, d1\) occurs more than once \(first on line 2\)",
         PREPARE_OUTPUTS),
    Case("byte-order mark in run and qrels", files(run__trec=BOM + RUN.encode(), qrels__txt=BOM + QRELS.encode()),
         evaluate, check=_first_query_counts),
    Case("byte-order mark in topics", files(run__trec=RUN, topics__tsv=BOM + TOPICS.encode(), docs__jsonl=DOCS),
         candidates, check=lambda table: set(table["qid"]) == {"q1", "q2"} or pytest.fail(str(table))),
    Case("byte-order mark in a BEIR folder",
         beir(corpus=BOM + b'{"_id": "d1", "text": "alpha"}\n', queries=BOM + b'{"_id": "q1", "text": "alpha?"}\n',
              qrels=BOM + b"query-id\tcorpus-id\tscore\nq1\td1\t1\n"),
         prepare_beir, check=lambda out: out["qrels"] == "q1 0 d1 1\n" or pytest.fail(str(out))),
    Case("invalid UTF-8 in topics", files(run__trec=RUN, topics__tsv=b"q1\tfirst\nq2\tcaf\xe9\n", docs__jsonl=DOCS),
         candidates, TrecFormatError, r"{folder}/topics.tsv, line 2: not valid UTF-8 \(byte 0xe9\); save the file "
         r"as UTF-8", ["candidates.parquet"]),
    Case("invalid UTF-8 in a BEIR corpus", beir(corpus=b'{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": "\xff"}\n'),
         prepare_beir, TrecFormatError, r"beir/corpus.jsonl, line 2: not valid UTF-8", PREPARE_OUTPUTS),
    Case("learning_rate .nan", config(text_edit=("learning_rate: 5.0e-4", "learning_rate: .nan")), validate_config,
         ConfigError, r"'models.minilm.learning_rate': nan is not a finite number"),
    Case("infinite weight decay", config(text_edit=("weight_decay: 0.01, betas: [0.9, 0.99]",
                                                    "weight_decay: .inf, betas: [0.9, 0.99]")), validate_config,
         ConfigError, r"'optimizers.lion.weight_decay': inf is not a finite number"),
    Case("mistyped metric_for_best_model", config(text_edit=("eval_heldout_ndcg@10", "eval_heldout_ndgc@10")),
         validate_config, ConfigError, r"'training.metric_for_best_model': 'eval_heldout_ndgc@10' is not a metric "
         r"of the heldout evaluator \(it logs: eval_loss, eval_heldout_map, eval_heldout_mrr@10, eval_heldout_ndcg@10\)"),
    Case("non-finite scores on the CPU in fp32", nan_model, rerank, FloatingPointError,
         r"2 of 2 scores are not finite \(precision fp32 on device cpu, optimized mode\); fp32 does not overflow",
         RERANK_OUTPUTS),
    # --- inputs that already ended in a clear error, kept that way
    Case("config typo", config(text_edit=("batch_size: 16", "batch_sise: 16")), validate_config, ConfigError,
         r"unknown key 'batch_sise' in 'training'"),
    Case("wrong type", config(text_edit=("epochs: 3", "epochs: three")), validate_config, ConfigError,
         r"'study.epochs': 'three' is not of type 'integer'"),
    Case("zero epochs", config(text_edit=("epochs: 3", "epochs: 0")), validate_config, ConfigError,
         r"'study.epochs': 0 is less than the minimum of 1"),
    Case("unknown override key", config(edit=lambda c: c["overrides"]["minilm"]["lion"].update(lr=1.0)),
         validate_config, ConfigError, r"unknown key 'lr' in 'overrides.minilm.lion'"),
    Case("malformed run line", files(run__trec=RUN + "q2 Q0 d4 2\n", qrels__txt=QRELS), evaluate, TrecFormatError,
         r"{folder}/run.trec, line 4: expected 6 fields", EVALUATE_OUTPUTS),
    Case("non-finite run score", files(run__trec=RUN + "q2 Q0 d4 2 inf s\n", qrels__txt=QRELS), evaluate,
         TrecFormatError, r"run.trec, line 4: score 'inf' is not finite", EVALUATE_OUTPUTS),
    Case("duplicate docid in a run", files(run__trec=RUN + "q1 Q0 d1 3 0.1 s\n", qrels__txt=QRELS), evaluate,
         TrecFormatError, r"run.trec, line 4: document 'd1' appears twice for query 'q1'", EVALUATE_OUTPUTS),
    Case("non-integer grade", files(run__trec=RUN, qrels__txt=QRELS + "q2 0 d4 high\n"), evaluate, TrecFormatError,
         r"qrels.txt, line 4: grade 'high' is not an integer", EVALUATE_OUTPUTS),
    Case("run query without a topic", files(run__trec=RUN + "q7 Q0 d1 1 1.0 s\n", topics__tsv=TOPICS,
                                            docs__jsonl=DOCS), candidates, DataError,
         r"run query 'q7' is not among the topics", ["candidates.parquet"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path):
    case.setup(tmp_path)
    if case.error is None:
        result = case.entry(tmp_path)
        assert case.check is not None
        case.check(result)
        return
    with pytest.raises(case.error) as raised:
        case.entry(tmp_path)
    pattern = case.message.replace("{folder}", re.escape(str(tmp_path)))
    assert re.search(pattern, str(raised.value)), f"{raised.value}\n does not match\n{pattern}"
    left = [name for name in case.outputs if (tmp_path / name).exists()]
    assert not left, f"{case.name}: outputs left behind: {left}"
    assert not list(tmp_path.rglob(".*.tmp")), "a temporary file was left behind"


def test_readme_says_what_to_do_when_a_run_stops():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## When a run stops", 1)[1].split("\n## ", 1)[0]
    for needed in (".snakemake", "--unlock", "--rerun-incomplete", "incomplete", "checkpoint"):
        assert needed in section, needed
