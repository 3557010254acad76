rule results_table:
    input:
        all_evaluations(),
    output:
        table="results/table.tsv",
        # The same table with binary measures at another relevance level (e.g. TREC DL's level 2).
        other_levels=expand("results/table_level{level}.tsv", level=extra_levels()),
    params:
        # Callables: Snakemake would try to fill in the braces of a plain string.
        eval_pattern=eval_pattern,
        # The BM25 row shows only test sets whose candidates come from BM25.
        bm25_paths=bm25_eval_paths,
        levels=extra_levels(),
        names=display_names,
    log:
        "logs/report/table.log",
    conda:
        "../envs/study.yaml"
    script:
        "../scripts/table.py"
