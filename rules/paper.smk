# The paper: generated LaTeX (results/paper/*.tex), figures (results/figures/*.pdf) and
# the PDF (paper/build/main.pdf). Results come from results/table.tsv, which is built from
# the researcher's own evaluation files (paper.results: reported; rules/table.smk) or from
# the workflow's evaluations (computed). Reported results also bring the reconciliation
# with the brief's table and the facts of the researcher's files (rule paper_reported);
# computed results bring the per-query statistics (results/stats/significance.tsv and
# means.tsv) for the significance markers, intervals and seed spread. Input functions
# (_paper_*) live in rules/common.smk.


rule paper_macros:
    input:
        unpack(_paper_statistics),
        table=_paper_results_table,
    output:
        "results/paper/macros.tex",
    params:
        code=code("paper_macros.py"),
        config=_paper_config,
        runs=_paper_runs,
    log:
        "logs/paper/macros.log",
    conda:
        "../envs/paper.yaml"
    script:
        "../scripts/paper_macros.py"


rule paper_results_tables:
    input:
        unpack(_paper_statistics),
        # Reported results borrow the replication's per-query spread as an uncertainty scale.
        unpack(_paper_replication_scale),
        table=_paper_results_table,
        # Their query counts give the measures' resolution (crossopt/paper_analysis.py).
        evaluations=table_evaluations(),
        # Published figures for the same queries, cited and labelled as such (paper.reference_points).
        reference_points=_paper_reference_points,
    output:
        results="results/paper/results_table.tex",
        differences="results/paper/difference_table.tex",
        comparison="results/paper/comparison.tex",
        significance="results/paper/significance.tex",
        # The resolution limit the abstract states (\\ResolutionLimit; reported results).
        analysis_macros="results/paper/analysis_macros.tex",
    params:
        code=code("paper_results_tables.py"),
        config=_paper_config,
        runs=_paper_runs,
        replication=lambda wildcards, input: ({"root": _replication_root(), "config": _replication_config()}
                                              if "replication" in input.keys() else None),
    log:
        "logs/paper/results_tables.log",
    conda:
        "../envs/paper.yaml"
    script:
        "../scripts/paper_results_tables.py"


rule paper_reported:
    input:
        unpack(_paper_reported),
        table=_paper_results_table,
        # What the original study's paper, thesis and code state (paper.original_study).
        original_study=_paper_original_study,
        # The replication's recipe search, for what it saw of runs at chance.
        recipe_search=_paper_recipe_search,
    output:
        macros="results/paper/reported.tex",
        reconciliation="results/paper/reconciliation_table.tex",
        measures="results/paper/extra_measures_table.tex",
    params:
        code=code("paper_reported.py"),
        config=_paper_config,
        eval_pattern=lambda wildcards: reported_eval_json("{model}", "{optim}", "{seed}", "{epoch}", "{testset}"),
    log:
        "logs/paper/reported.log",
    conda:
        "../envs/paper.yaml"
    script:
        "../scripts/paper_reported.py"


rule paper_setup_tables:
    input:
        # The pinned software the hyperparameter table states.
        requirements=os.path.join(workflow.basedir, "requirements.txt"),
        makefile=os.path.join(workflow.basedir, "Makefile"),
    output:
        models="results/paper/models_table.tex",
        hyperparameters="results/paper/hyperparameters.tex",
        authors="results/paper/authors.tex",
    params:
        code=code("paper_setup_tables.py"),
        config=_paper_config,
        runs=_paper_runs,
    log:
        "logs/paper/setup_tables.log",
    conda:
        "../envs/paper.yaml"
    script:
        "../scripts/paper_setup_tables.py"


rule paper_training_summary:
    input:
        unpack(_paper_training_logs),
    output:
        "results/paper/training.tex",
    params:
        code=code("paper_training_summary.py"),
        model_name=lambda wildcards: config["models"][_paper_figure_model()]["name"],
        names=_paper_optimizer_names,
    log:
        "logs/paper/training_summary.log",
    conda:
        "../envs/paper.yaml"
    script:
        "../scripts/paper_training_summary.py"


rule paper_figure_training:
    input:
        unpack(_paper_training_logs),
    output:
        report("results/figures/training_curves.pdf", caption="../report/training_curves.rst", category="Figures"),
    params:
        code=code("paper_figure_training.py"),
        names=_paper_optimizer_names,
    log:
        "logs/paper/figure_training.log",
    resources:
        **cluster_resources(mem_mb=2000, runtime=15),
    conda:
        "../envs/paper.yaml"
    script:
        "../scripts/paper_figure_training.py"


rule paper_figure_epochs:
    input:
        unpack(_paper_statistics),
        table=_paper_results_table,
    output:
        report("results/figures/epochs.pdf", caption="../report/epochs.rst", category="Figures"),
    params:
        code=code("paper_figure_epochs.py"),
        config=_paper_config,
    log:
        "logs/paper/figure_epochs.log",
    resources:
        **cluster_resources(mem_mb=2000, runtime=15),
    conda:
        "../envs/paper.yaml"
    script:
        "../scripts/paper_figure_epochs.py"


rule paper_pdf:
    input:
        main=f"{PAPER_SOURCES}/main.tex",
        sources=_paper_sources,
        # With reported results, the supplement's .aux too: the paper refers to its tables.
        generated=_paper_generated,
    output:
        "paper/build/main.pdf",
    params:
        code=code("paper_build.py"),
        # Sources keep their paths below the folder of main.tex when staged.
        source_root=lambda wildcards, input: os.path.dirname(input.main),
    log:
        "logs/paper/main.log",
    benchmark:
        "benchmarks/paper/main.tsv",
    resources:
        **cluster_resources(mem_mb=2000, runtime=30),
    conda:
        "../envs/paper.yaml"
    script:
        "../scripts/paper_build.py"


# Reported results: the supplementary material, built by the same rules' files. It holds what
# the eight pages leave out: the cell-by-cell reconciliation with the brief, the further
# trec_eval measures and the replication's recipe search. Its .aux goes to the paper, which
# refers to the supplement's tables by their labels (xr-hyper).
rule paper_supplement:
    input:
        main=f"{PAPER_SOURCES}/supplement.tex",
        sources=_paper_sources,
        generated=_paper_supplement_generated,
    output:
        pdf="paper/build/supplement/supplement.pdf",
        aux="paper/build/supplement/supplement.aux",
    params:
        code=code("paper_build.py"),
        source_root=lambda wildcards, input: os.path.dirname(input.main),
    resources:
        **cluster_resources(mem_mb=2000, runtime=15),
    log:
        "logs/paper/supplement.log",
    benchmark:
        "benchmarks/paper/supplement.tsv",
    conda:
        "../envs/paper.yaml"
    script:
        "../scripts/paper_build.py"
