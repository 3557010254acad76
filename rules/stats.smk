rule significance:
    input:
        all_evaluations(),
    output:
        significance="results/stats/significance.tsv",
        means="results/stats/means.tsv",
    params:
        # Callables: Snakemake would try to fill in the braces of a plain string.
        eval_pattern=lambda wildcards: eval_json("{model}", "{optim}", "{seed}", "{epoch}", "{testset}"),
        bm25_paths=lambda wildcards: {t: f"results/eval/bm25/{t}.json" for t in TESTSETS if first_stage(t) == "bm25"},
    log:
        "logs/stats/significance.log",
    conda:
        "../envs/study.yaml"
    script:
        "../scripts/significance.py"
