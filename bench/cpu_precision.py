"""CPU training-step time of the SciFact replication's model in fp32 and under bf16 autocast.

One process, one thread by default (as the recipe search runs each try), the same batches
for both precisions, interleaved (fp32, bf16, fp32, bf16, ...) so that a change of machine
load hits both alike. Prints the median step time of each and their ratio, and the largest
relative difference of the loss between them on the first batch (bf16 keeps fp32 master
weights; only the matmuls run in bf16).

    python bench/cpu_precision.py --model results/base_models/minilm --batch 16 --length 96
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="results/base_models/minilm")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=96)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per precision (after one warm-up)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=1)
    model.train()
    words = ("protein expression cell tumour patients increased risk gene mutation therapy clinical "
             "trial response mice receptor signalling pathway").split()
    texts = [" ".join(words[(i + j) % len(words)] for j in range(200)) for i in range(args.batch)]
    batch = tokenizer(["query about risk"] * args.batch, texts, truncation=True, max_length=args.length,
                      padding="max_length", return_tensors="pt")
    labels = torch.tensor([float(i % 2) for i in range(args.batch)])
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step(bf16: bool) -> tuple[float, float]:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(**batch).logits.squeeze(-1)
        loss = loss_fn(logits.float(), labels)
        loss.backward()
        model.zero_grad(set_to_none=True)
        return time.perf_counter() - start, float(loss)

    times = {False: [], True: []}
    first = {False: step(False)[1], True: step(True)[1]}  # warm-up, and the loss on the same weights
    for _ in range(args.steps):
        for bf16 in (False, True):
            times[bf16].append(step(bf16)[0])
    fp32, bf16 = statistics.median(times[False]), statistics.median(times[True])
    print(f"threads {args.threads}, batch {args.batch} x {args.length} tokens, load {os.getloadavg()[0]:.2f}")
    print(f"fp32 step {fp32:.3f} s, bf16 autocast step {bf16:.3f} s, ratio fp32/bf16 {fp32 / bf16:.2f}")
    print(f"loss fp32 {first[False]:.5f}, bf16 {first[True]:.5f}, relative difference "
          f"{abs(first[False] - first[True]) / abs(first[False]):.2e}")


if __name__ == "__main__":
    main()
