# Lion vs AdamW for cross-encoder rerankers: the study as one dependency graph.
#
# results/downloads/beir/{dataset}/                               a BEIR zip's pinned files (sha256-checked)
# results/data/{train,heldout}.parquet                            training pairs
# results/testsets/{testset}/{topics.tsv,qrels.txt,candidates.parquet}
# results/runs/bm25/{testset}.trec                                BM25 candidates (Pyserini)
# results/models/{model}/{optim}/seed{seed}/epoch{epoch}/         one checkpoint per epoch
# results/runs/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.trec
# results/eval/.../{testset}.json                                 aggregate and per-query measures
# results/table.tsv, results/table_level{L}.tsv                  the brief's table (at another relevance level)
# results/stats/significance.tsv                                 paired tests, Lion vs AdamW and vs BM25
# results/cost.tsv                                                GPU hours and cost per run (Modal or local)
# paper/build/main.pdf                                            the IEEE paper (rules/paper.smk)
# paper/build/supplement/supplement.pdf                           its supplement (reported results)
#
# Run:   snakemake --cores 4 all                                  (config.yaml: the real study)
#        snakemake --configfile config/smoke.yaml --cores 4 all   (the toy study, offline, CPU)
#        snakemake --configfile config.yaml config/modal.yaml --cores 4 all   (the real study on Modal)
#        (--configfile takes every following word as a file: keep an option between it and targets)
# Draw:  snakemake results/table.tsv --dag | dot -Tsvg > dag.svg

from snakemake.utils import min_version

min_version("9.0")


# The run's config (crossopt.config.compose_config): config.yaml, unless the first
# --configfile is a complete config (one with a `study` section, e.g. config/smoke.yaml)
# that replaces it; every other --configfile (e.g. config/modal.yaml) and --config
# value is an overlay merged on top, in order. It is validated after the merge.
import os
import sys

sys.path.insert(0, workflow.basedir)
from crossopt.config import compose_config

_composed = compose_config(
    workflow.overwrite_configfiles,
    workflow.config_settings.config,
    "config.yaml" if os.path.exists("config.yaml") else os.path.join(workflow.basedir, "config.yaml"),
)
config.clear()
config.update(_composed)


# A local machine runs one GPU job at a time (training and reranking each declare gpu=1 when
# they run a model on the GPU) unless `--resources gpu=N` allows N: without a limit, Snakemake
# would start as many GPU jobs as --cores allows, all on one card. While this file is read,
# Snakemake 9 does not know the executor yet (local_exec is True for cluster runs too), so a
# cluster profile gives its own limit (profiles/slurm: resources: gpu=50).
if workflow.local_exec and "gpu" not in workflow.global_resources:
    workflow.register_resource("gpu", 1)


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/scifact.smk"
include: "rules/retrieval.smk"
include: "rules/train.smk"
include: "rules/rerank.smk"
include: "rules/evaluate.smk"
include: "rules/table.smk"
include: "rules/significance.smk"
include: "rules/cost.smk"
include: "rules/paper.smk"


# `snakemake --report report.html`: the table, the significance tests and the figures.
report: "report/workflow.rst"


# Cheap aggregates and targets run on the submitting host under a cluster executor.
localrules:
    all,
    table,
    paper,
    results_table,
    import_reported_eval,
    reconcile_reported,
    cost_summary,
    paper_macros,
    paper_results_tables,
    paper_reported,
    paper_setup_tables,
    paper_training_summary,


# With reported results (config.yaml) the table and the paper come from the researcher's
# files and nothing is trained: `all` is the table and the paper. With computed results
# (config/rerun.yaml, the smoke and SciFact configs) it is the whole study: every training,
# reranking and evaluation, the statistics and the cost.
rule all:
    input:
        "results/table.tsv",
        [] if REPORTED else "results/stats/significance.tsv",
        [] if REPORTED else "results/cost.tsv",
        paper_targets(),


rule table:
    input:
        "results/table.tsv",


rule paper:
    input:
        paper_targets(),
