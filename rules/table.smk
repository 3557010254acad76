rule results_table:
    input:
        table_evaluations(),
    output:
        table=report("results/table.tsv", caption="../report/table.rst", category="Results", subcategory="Table"),
        # The same table with binary measures at another relevance level (e.g. TREC DL's level 2).
        other_levels=expand("results/table_level{level}.tsv", level=table_levels()),
    params:
        code=code("table.py"),
        # Callables: Snakemake would try to fill in the braces of a plain string.
        eval_pattern=table_eval_pattern,
        # The BM25 row shows only test sets whose candidates come from BM25.
        bm25_paths=table_bm25_paths,
        levels=table_levels(),
        # The grid with display names and the columns: a rename rewrites the table (and the paper), nothing upstream.
        layout=STUDY.table_params(),
    log:
        "logs/report/table.log",
    conda:
        "../envs/evaluation.yaml"
    script:
        "../scripts/table.py"


# paper.results: reported. The researcher's trec_eval JSONs and mrrs.txt
# (paper.reported_eval) become evaluation JSONs in the workflow's layout, aggregate
# values only, each naming the file and field it came from (crossopt/researcher_eval.py).
rule import_reported_eval:
    input:
        reported_eval_sources,
    output:
        reported_evaluations(),
    params:
        code=code("import_reported_eval.py"),
        folder=repository_path(config["paper"]["reported_eval"]),
        eval_pattern=lambda wildcards: study.REPORTED_EVAL,
        config={
            **{k: config[k] for k in ("study", "models", "optimizers", "table", "testsets")},
            "paper": {"reported_relevance_level": config["paper"]["reported_relevance_level"]},
        },
    log:
        "logs/report/import_reported_eval.log",
    conda:
        "../envs/evaluation.yaml"
    script:
        "../scripts/import_reported_eval.py"


# Every cell of the brief's table (paper.brief_table) beside the researcher's output.
rule reconcile_reported:
    input:
        brief=repository_path(config["paper"]["brief_table"]),
        evaluations=reported_evaluations(),
    output:
        "results/reported/reconciliation.tsv",
    params:
        code=code("reconcile_reported.py"),
        eval_pattern=lambda wildcards: study.REPORTED_EVAL,
        # The grid with display names (the brief's rows name them) and the columns.
        layout=STUDY.table_params(),
    log:
        "logs/report/reconcile_reported.log",
    conda:
        "../envs/evaluation.yaml"
    script:
        "../scripts/reconcile_reported.py"
