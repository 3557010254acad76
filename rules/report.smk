rule results_table:
    input:
        all_evaluations(),
    output:
        "results/table.tsv",
    params:
        # Callables: Snakemake would try to fill in the braces of a plain string.
        eval_pattern=lambda wildcards: eval_json("{model}", "{optim}", "{seed}", "{epoch}", "{testset}"),
        # The BM25 row shows only test sets whose candidates come from BM25.
        bm25_paths=lambda wildcards: {t: f"results/eval/bm25/{t}.json" for t in TESTSETS if first_stage(t) == "bm25"},
    log:
        "logs/report/table.log",
    conda:
        "../envs/study.yaml"
    script:
        "../scripts/table.py"
