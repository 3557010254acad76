rule significance:
    input:
        all_evaluations(),
    output:
        significance=report("results/stats/significance.tsv", caption="../report/significance.rst",
                            category="Results", subcategory="Significance"),
        means=report("results/stats/means.tsv", caption="../report/means.rst", category="Results", subcategory="Significance"),
    params:
        code=code("significance.py"),
        # Callables: Snakemake would try to fill in the braces of a plain string.
        eval_pattern=eval_pattern,
        bm25_paths=bm25_eval_paths,
        # The grid by key, the columns and the statistics settings (crossopt.study.Study.statistics_params).
        plan=STUDY.statistics_params(),
    log:
        "logs/stats/significance.log",
    benchmark:
        "benchmarks/stats/significance.tsv",
    resources:
        **cluster_resources(mem_mb=2000, runtime=30),
    conda:
        "../envs/evaluation.yaml"
    script:
        "../scripts/significance.py"
