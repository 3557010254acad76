#!/usr/bin/env bash
# The SciFact recipe search as run for data/scifact/recipe_search.tsv: learning rates
# bracketing each optimizer's choice, two epochs each (a row per epoch), seed 12, on the
# 100 held-out train queries only. Two tries at a time, one thread each, so the two cores
# are not oversubscribed (pairs/s in the TSV is then comparable between rows).
#
#   bash bench/scifact_grid.sh        # about 20 minutes on 2 cores
#
# Needs the profile's data and model:
#   snakemake --configfile config/scifact.yaml --cores 2 results/data/train.parquet \
#       results/base_models/minilm results/data/beir/heldout/candidates.parquet
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
try() { "$PY" bench/scifact_recipe.py --epochs 2 "$@"; }
"$PY" bench/scifact_recipe.py --name bm25
# Round 1: the middle of each bracket.
try --name adamw-1e-4-h2e-3 --optim adamw --lr 1e-4 --head-lr 2e-3 & a=$!
try --name lion-3e-5-h3e-4 --optim lion --lr 3e-5 --head-lr 3e-4 & b=$!
wait $a; wait $b
# Round 2: the top of each bracket (the bottom rows, 5e-5 and 1e-5, are in the TSV already).
try --name adamw-2e-4-h4e-3 --optim adamw --lr 2e-4 --head-lr 4e-3 & a=$!
try --name lion-1e-4-h1e-3 --optim lion --lr 1e-4 --head-lr 1e-3 & b=$!
wait $a; wait $b
