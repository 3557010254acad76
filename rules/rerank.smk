# One job per (checkpoint, test set): enabling or adding a test set schedules only its
# own reranking, and a failed test set leaves the others' runs in place.
rule rerank:
    input:
        model="results/models/{model}/{optim}/seed{seed}/epoch{epoch}",
        candidates="results/testsets/{testset}/candidates.parquet",
    output:
        run="results/runs/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.trec",
        # GPU type, wall and GPU seconds of this job (summed by rules/cost.smk).
        cost="results/runs/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.cost.json",
    params:
        code=code("rerank.py"),
        batch_size=config["rerank"]["batch_size"],
        max_length=lambda wildcards: config["models"][wildcards.model]["max_length"],
        tag=lambda wildcards: f"{wildcards.model}-{wildcards.optim}-s{wildcards.seed}-e{wildcards.epoch}",
        backend=config["rerank"]["backend"],
        # Where a modal job runs must not make finished runs stale: a param computed from
        # `resources` is left out of Snakemake's params check.
        modal=lambda wildcards, resources: config["modal"],
        # Scoring options (crossopt.rerank.RerankOptions): changing them reruns the rule.
        options={k: config["rerank"][k] for k in ("mode", "precision", "sort_by_length", "prefetch", "chunk_size")},
    log:
        "logs/runs/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.log",
    benchmark:
        "benchmarks/rerank/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.tsv"
    threads: 1
    resources:
        **cluster_resources(mem_mb=4000, runtime=240, gpu=gpu_count(config["rerank"]["backend"])),
    conda:
        "../envs/training.yaml"
    script:
        "../scripts/rerank.py"


# With the Modal backend the job only uploads, waits and writes the returned run:
# under a cluster executor (profiles/) it runs on the submitting host.
if config["rerank"]["backend"] == "modal":

    localrules:
        rerank,
