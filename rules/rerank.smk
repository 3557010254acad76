rule rerank:
    input:
        model="results/models/{model}/{optim}/seed{seed}/epoch{epoch}",
        candidates="results/testsets/{testset}/candidates.parquet",
    output:
        "results/runs/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.trec",
    params:
        batch_size=config["rerank"]["batch_size"],
        max_length=lambda wildcards: config["models"][wildcards.model]["max_length"],
        tag=lambda wildcards: f"{wildcards.model}-{wildcards.optim}-s{wildcards.seed}-e{wildcards.epoch}",
    log:
        "logs/runs/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.log",
    benchmark:
        "benchmarks/rerank/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.tsv"
    threads: 1
    conda:
        "../envs/study.yaml"
    script:
        "../scripts/rerank.py"
