rule significance:
    input:
        all_evaluations(),
    output:
        significance="results/stats/significance.tsv",
        means="results/stats/means.tsv",
    params:
        # Callables: Snakemake would try to fill in the braces of a plain string.
        eval_pattern=eval_pattern,
        bm25_paths=bm25_eval_paths,
        # The grid by key, the columns and the statistics settings (crossopt.study.Study.statistics_params).
        plan=STUDY.statistics_params(),
    log:
        "logs/stats/significance.log",
    conda:
        "../envs/study.yaml"
    script:
        "../scripts/significance.py"
