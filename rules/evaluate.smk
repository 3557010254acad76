rule evaluate:
    input:
        run="results/runs/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.trec",
        qrels="results/testsets/{testset}/qrels.txt",
    output:
        "results/eval/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.json",
    params:
        code=code("evaluate.py"),
        spec=lambda wildcards: STUDY.evaluation_params(wildcards.testset),
        system=lambda wildcards: f"{wildcards.model}/{wildcards.optim}/seed{wildcards.seed}/epoch{wildcards.epoch}",
        recall_depths=[],
    log:
        "logs/eval/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.log",
    benchmark:
        "benchmarks/eval/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.tsv",
    resources:
        **cluster_resources(mem_mb=1000, runtime=15),
    conda:
        "../envs/evaluation.yaml"
    script:
        "../scripts/evaluate.py"


rule evaluate_first_stage:
    input:
        run="results/runs/{stage}/{testset}.trec",
        qrels="results/testsets/{testset}/qrels.txt",
    output:
        "results/eval/{stage}/{testset}.json",
    params:
        code=code("evaluate.py"),
        spec=lambda wildcards: STUDY.evaluation_params(wildcards.testset),
        system="{stage}",
        # The candidates' recall at depth k bounds what any reranker can reach.
        recall_depths=lambda wildcards: testset_spec(wildcards)["recall_depths"],
    log:
        "logs/eval/{stage}/{testset}.log",
    benchmark:
        "benchmarks/eval/{stage}/{testset}.tsv",
    resources:
        **cluster_resources(mem_mb=1000, runtime=15),
    wildcard_constraints:
        stage="bm25|given",
    conda:
        "../envs/evaluation.yaml"
    script:
        "../scripts/evaluate.py"
