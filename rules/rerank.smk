# One job per checkpoint reranks every enabled test set: loading the libraries
# costs more than scoring the smoke candidates, and a checkpoint is read once.
rule rerank:
    input:
        model="results/models/{model}/{optim}/seed{seed}/epoch{epoch}",
        candidates=expand("results/testsets/{testset}/candidates.parquet", testset=TESTSETS),
    output:
        runs=expand("results/runs/{{model}}/{{optim}}/seed{{seed}}/epoch{{epoch}}/{testset}.trec", testset=TESTSETS),
        # GPU type, wall and GPU seconds of each test set (summed by rules/cost.smk).
        costs=expand(
            "results/runs/{{model}}/{{optim}}/seed{{seed}}/epoch{{epoch}}/{testset}.cost.json", testset=TESTSETS
        ),
    params:
        testsets=TESTSETS,
        batch_size=config["rerank"]["batch_size"],
        max_length=lambda wildcards: config["models"][wildcards.model]["max_length"],
        tag=lambda wildcards: f"{wildcards.model}-{wildcards.optim}-s{wildcards.seed}-e{wildcards.epoch}",
        backend=config["rerank"]["backend"],
        # Scoring options (crossopt.rerank.RerankOptions): changing them reruns the rule.
        options={k: config["rerank"][k] for k in ("mode", "precision", "sort_by_length", "prefetch", "chunk_size")},
    log:
        "logs/runs/{model}/{optim}/seed{seed}/epoch{epoch}.log",
    benchmark:
        "benchmarks/rerank/{model}/{optim}/seed{seed}/epoch{epoch}.tsv"
    threads: 1
    conda:
        "../envs/study.yaml"
    script:
        "../scripts/rerank.py"


# With the Modal backend the job only uploads, waits and writes the returned run:
# under a cluster executor (profiles/) it runs on the submitting host.
if config["rerank"]["backend"] == "modal":

    localrules:
        rerank,
