rule smoke_collection:
    output:
        corpus="results/smoke/train/corpus.parquet",
        queries="results/smoke/train/queries.parquet",
        triplets="results/smoke/train/triplets.parquet",
        testsets=expand(
            "results/smoke/testsets/{testset}/{name}",
            testset=SMOKE_TESTSETS,
            name=["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"],
        ),
    params:
        code=code("smoke_collection.py"),
        settings=config["smoke"],
        testsets={t: (f"results/smoke/testsets/{t}", config["testsets"][t]["graded"]) for t in SMOKE_TESTSETS},
    log:
        "logs/data/smoke_collection.log",
    benchmark:
        "benchmarks/data/smoke_collection.tsv",
    resources:
        **cluster_resources(mem_mb=1000, runtime=15),
    conda:
        "../envs/study.yaml"
    script:
        "../scripts/smoke_collection.py"


# A BEIR dataset from its public zip (a beir test set's `download`, when it has no `path`);
# only its pinned files are kept, and the folder appears only when all of them match.
rule download_beir:
    output:
        directory(f"{BEIR_DOWNLOAD_ROOT}/{{dataset}}"),
    params:
        code=code("download_beir.py"),
        url=lambda wildcards: BEIR_DOWNLOADS[wildcards.dataset]["url"],
        md5=lambda wildcards: BEIR_DOWNLOADS[wildcards.dataset].get("md5"),
        sha256=lambda wildcards: BEIR_DOWNLOADS[wildcards.dataset]["sha256"],
    log:
        "logs/downloads/beir/{dataset}.log",
    benchmark:
        "benchmarks/downloads/beir/{dataset}.tsv",
    resources:
        **cluster_resources(mem_mb=1000, runtime=30),
    wildcard_constraints:
        dataset=_alternatives(BEIR_DOWNLOADS),
    conda:
        "../envs/study.yaml"
    script:
        "../scripts/download_beir.py"


rule training_pairs:
    input:
        unpack(triplet_tables),
    output:
        train="results/data/train.parquet",
        heldout="results/data/heldout.parquet",
    params:
        code=code("training_pairs.py"),
        data=config["data"],
    log:
        "logs/data/training_pairs.log",
    benchmark:
        "benchmarks/data/training_pairs.tsv",
    resources:
        **cluster_resources(mem_mb=4000, runtime=60),
    conda:
        "../envs/training.yaml"
    script:
        "../scripts/training_pairs.py"


rule tiny_model:
    input:
        train="results/data/train.parquet",
    output:
        directory("results/base_models/{model}"),
    params:
        code=code("tiny_model.py"),
        tiny=lambda wildcards: STUDY.model_spec(wildcards.model)["tiny"],
        seed=lambda wildcards: STUDY.model_spec(wildcards.model)["tiny"]["seed"],
    log:
        "logs/data/tiny_model/{model}.log",
    benchmark:
        "benchmarks/data/tiny_model/{model}.tsv",
    resources:
        **cluster_resources(mem_mb=1000, runtime=15),
    wildcard_constraints:
        model=_alternatives(TINY_MODELS),
    conda:
        "../envs/training.yaml"
    script:
        "../scripts/tiny_model.py"
