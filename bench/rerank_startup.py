"""Fixed cost of a reranking job: a fresh Python that imports the reranking code and loads a
checkpoint, then scores one pair, through sentence-transformers' CrossEncoder (as rerank jobs
did before 2026-12-06) and through transformers alone (`crossopt.rerank.load_scorer`, what
`rerank_to_file` uses now). The two are run alternately, so machine load hits both alike;
the medians and their ratio are printed. The checkpoint is a tiny model built here, so the
time is start-up (interpreter, imports, loading), not scoring.

    python bench/rerank_startup.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JOB = {
    "cross_encoder": "from crossopt.rerank import load_cross_encoder as load, score_pairs",
    "transformers": "from crossopt.rerank import load_scorer as load, score_pairs",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from crossopt.tiny_models import build_tiny_model

    folder = Path(tempfile.mkdtemp()) / "model"
    spec = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
            "vocab_size": 300, "max_position_embeddings": 64}
    build_tiny_model("bert", spec, ["what is alpha", "alpha beta gamma delta"] * 50, folder, 0)
    times: dict[str, list[float]] = {name: [] for name in JOB}
    for _ in range(args.repeats):
        for name, line in JOB.items():
            code = f"{line}\nm = load({str(folder)!r}, 32)\nscore_pairs(m, ['what is alpha'], ['alpha beta'], 1)\n"
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True)
            times[name].append(time.perf_counter() - start)
    old, new = statistics.median(times["cross_encoder"]), statistics.median(times["transformers"])
    print(f"load {os.getloadavg()[0]:.2f}; {args.repeats} runs each, medians:")
    print(f"  CrossEncoder path  {old:.2f} s  ({', '.join(f'{t:.2f}' for t in times['cross_encoder'])})")
    print(f"  transformers path  {new:.2f} s  ({', '.join(f'{t:.2f}' for t in times['transformers'])})")
    print(f"  ratio new/old {new / old:.2f}")


if __name__ == "__main__":
    main()
