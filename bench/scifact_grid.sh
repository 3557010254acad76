#!/usr/bin/env bash
# The second SciFact recipe search (2026-12-06), on the 100 held-out train queries only:
# its rows are those of data/scifact/recipe_search.tsv with a weight_decay column.
#
# - two seeds per grid point (13 and 14: two of the three seeds whose runs never trained
#   under the first recipe);
# - a warm-up over 10 % of the steps, then the peak rate (constant_with_warmup), 3 epochs,
#   so that no schedule runs the rate down while a run is still on its plateau;
# - bf16 autocast on the CPU (bench/cpu_precision.py: 1.69x faster steps than fp32 on this
#   machine, docs/performance.md);
# - AdamW first; Lion's grid is then placed 3x and 10x below AdamW's best rate, with its weight
#   decay raised by the same factor so that lr x wd equals AdamW's (the Lion paper's advice).
#
# "Trained" is decided before it runs: a mean training loss over the last epoch of at most
# 0.9 ln 2 = 0.624 (bench/scifact_recipe.py, TRAINED_BELOW). Each optimizer's recipe is the
# grid point with the best mean held-out nDCG@10 at the last epoch among those where every
# seed trained.
#
#   bash bench/scifact_grid.sh adamw           # 4 tries, two at a time
#   bash bench/scifact_grid.sh lion 3e-5       # 4 tries around AdamW's best rate, here 3e-5
#
# Needs the profile's data and model:
#   snakemake --configfile config/scifact.yaml [config/scifact-local.yaml] --cores 2 results/data/train.parquet \
#       results/base_models/minilm results/data/beir/heldout/candidates.parquet
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
try() { "$PY" bench/scifact_recipe.py --epochs 3 --scheduler constant_with_warmup --bf16 "$@"; }
pair() {  # one grid point, its two seeds at once (one thread each)
  local name=$1; shift
  try --name "$name-s13" --seed 13 "$@" & local a=$!
  try --name "$name-s14" --seed 14 "$@" & local b=$!
  wait $a; wait $b
}
case "${1:?adamw or lion}" in
  adamw)
    "$PY" bench/scifact_recipe.py --name bm25
    pair adamw-3e-5-h3e-4 --optim adamw --lr 3e-5 --head-lr 3e-4
    pair adamw-1e-4-h1e-3 --optim adamw --lr 1e-4 --head-lr 1e-3
    ;;
  lion)
    best=${2:?AdamW\'s best body rate}
    wd=0.01  # AdamW's
    for factor in 3 10; do
      lr=$("$PY" -c "print(f'{$best / $factor:.1e}')")
      head=$("$PY" -c "print(f'{10 * $best / $factor:.1e}')")
      decay=$("$PY" -c "print(f'{$wd * $factor:g}')")
      pair "lion-$lr-h$head-wd$decay" --optim lion --lr "$lr" --head-lr "$head" --weight-decay "$decay"
    done
    ;;
esac
