# What the study cost: every training and reranking job's cost record, priced with
# the config's `costs` section (crossopt/cost.py). Target: results/cost.tsv


rule cost_summary:
    input:
        training=expand(
            "results/models/{model}/{optim}/seed{seed}/cost.json",
            model=MODELS,
            optim=OPTIMS,
            seed=SEEDS,
        ),
        reranking=expand(
            "results/runs/{model}/{optim}/seed{seed}/rerank.cost.json",
            model=MODELS,
            optim=OPTIMS,
            seed=SEEDS,
        ),
    output:
        "results/cost.tsv",
    params:
        code=code("cost.py"),
        costs=config["costs"],
    log:
        "logs/report/cost.log",
    conda:
        "../envs/evaluation.yaml"
    script:
        "../scripts/cost.py"
