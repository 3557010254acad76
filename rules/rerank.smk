rule rerank:
    # One job per training run reranks every test set with every epoch checkpoint: torch,
    # transformers and the candidates are loaded once per run, not once per checkpoint and
    # test set (most of a small job's time; docs/performance.md). Each (epoch, test set)
    # keeps its own run file, which the evaluation rules read one by one.
    input:
        models=expand("results/models/{{model}}/{{optim}}/seed{{seed}}/epoch{epoch}", epoch=EPOCHS),
        candidates=expand("results/testsets/{testset}/candidates.parquet", testset=TESTSETS),
    output:
        # epoch-major: scripts/rerank.py hands each checkpoint its slice
        runs=expand("results/runs/{{model}}/{{optim}}/seed{{seed}}/epoch{epoch}/{testset}.trec",
                    epoch=EPOCHS, testset=TESTSETS),
        # GPU type, wall and GPU seconds of this job (summed by rules/cost.smk).
        cost="results/runs/{model}/{optim}/seed{seed}/rerank.cost.json",
    params:
        code=code("rerank.py"),
        epochs=EPOCHS,
        testsets=TESTSETS,
        batch_size=config["rerank"]["batch_size"],
        max_length=lambda wildcards: config["models"][wildcards.model]["max_length"],
        # each checkpoint's run gets "-e{epoch}" added
        tag=lambda wildcards: f"{wildcards.model}-{wildcards.optim}-s{wildcards.seed}",
        backend=config["rerank"]["backend"],
        # Where a modal job runs must not make finished runs stale: a param computed from
        # `resources` is left out of Snakemake's params check.
        modal=lambda wildcards, resources: config["modal"],
        # Scoring options (crossopt.rerank.RerankOptions): changing them reruns the rule.
        options={k: config["rerank"][k] for k in ("mode", "precision", "sort_by_length", "prefetch", "chunk_size")},
    log:
        "logs/runs/{model}/{optim}/seed{seed}/rerank.log",
    benchmark:
        "benchmarks/rerank/{model}/{optim}/seed{seed}.tsv"
    threads: 1
    resources:
        **cluster_resources(mem_mb=4000, runtime=720, gpu=gpu_count(config["rerank"]["backend"])),
    conda:
        "../envs/training.yaml"
    script:
        "../scripts/rerank.py"


# With the Modal backend the job only uploads, waits and writes the returned run:
# under a cluster executor (profiles/) it runs on the submitting host.
if config["rerank"]["backend"] == "modal":

    localrules:
        rerank,
