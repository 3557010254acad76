# Test sets and first-stage candidates. Each test-set source has its own rule for
# topics/qrels; the wildcard constraints route every key to exactly one of them.


rule prepare_local_testset:
    input:
        unpack(testset_source_files),
    output:
        collection="results/testsets/{testset}/collection/docs.jsonl",
        topics="results/testsets/{testset}/topics.tsv",
        qrels="results/testsets/{testset}/qrels.txt",
    params:
        code=code("testset_beir.py"),
        folder=lambda wildcards: beir_folder(wildcards.testset),
        split=lambda wildcards: testset_spec(wildcards)["split"],
    log:
        "logs/testsets/{testset}/prepare.log",
    benchmark:
        "benchmarks/testsets/{testset}/prepare.tsv",
    resources:
        **cluster_resources(mem_mb=2000, runtime=30),
    wildcard_constraints:
        testset=_alternatives(LOCAL_TESTSETS),
    conda:
        "../envs/study.yaml"
    script:
        "../scripts/testset_beir.py"


rule prepare_pyserini_testset:
    input:
        unpack(pyserini_topics_file),
    output:
        topics="results/testsets/{testset}/topics.tsv",
        qrels="results/testsets/{testset}/qrels.txt",
    params:
        code=code("testset_pyserini.py"),
        topics=lambda wildcards: testset_spec(wildcards)["topics"],
        qrels=lambda wildcards: testset_spec(wildcards)["qrels"],
    log:
        "logs/testsets/{testset}/prepare.log",
    benchmark:
        "benchmarks/testsets/{testset}/prepare.tsv",
    resources:
        **cluster_resources(mem_mb=1000, runtime=15),
    wildcard_constraints:
        testset=_alternatives(PYSERINI_TESTSETS),
    conda:
        "../envs/study.yaml"
    script:
        "../scripts/testset_pyserini.py"


rule prepare_msmarco_v11_testset:
    output:
        topics="results/testsets/{testset}/topics.tsv",
        qrels="results/testsets/{testset}/qrels.txt",
        candidates="results/testsets/{testset}/candidates.parquet",
        no_relevant="results/testsets/{testset}/no_relevant.txt",
        # The given passage order is this test set's first stage.
        run="results/runs/given/{testset}.trec",
    params:
        code=code("testset_msmarco_v11.py"),
        spec=lambda wildcards: STUDY.download_params(wildcards.testset),
    log:
        "logs/testsets/{testset}/prepare.log",
    benchmark:
        "benchmarks/testsets/{testset}/prepare.tsv",
    resources:
        **cluster_resources(mem_mb=4000, runtime=60),
    wildcard_constraints:
        testset=_alternatives(V11_TESTSETS),
    conda:
        "../envs/training.yaml"
    script:
        "../scripts/testset_msmarco_v11.py"


rule bm25_index:
    input:
        "results/testsets/{testset}/collection/docs.jsonl",
    output:
        directory("results/indexes/{testset}"),
    params:
        code=code(packages=("pyserini",)),
    log:
        "logs/indexes/{testset}.log",
    benchmark:
        "benchmarks/indexes/{testset}.tsv",
    threads: 2
    resources:
        **cluster_resources(mem_mb=4000, runtime=120),
    wildcard_constraints:
        testset=_alternatives(LOCAL_TESTSETS),
    conda:
        "../envs/study.yaml"
    shell:
        "python -m pyserini.index.lucene --collection JsonCollection"
        " --input $(dirname {input}) --index {output}"
        " --generator DefaultLuceneDocumentGenerator --threads {threads}"
        " --storePositions --storeDocvectors --storeRaw > {log} 2>&1"


rule bm25_search:
    input:
        index=local_index,
        topics="results/testsets/{testset}/topics.tsv",
    output:
        "results/runs/bm25/{testset}.trec",
    params:
        code=code(modules=("cli",), packages=("pyserini",)),
        index=index_argument,
        k1=lambda wildcards: testset_spec(wildcards)["retrieval"]["k1"],
        b=lambda wildcards: testset_spec(wildcards)["retrieval"]["b"],
        depth=lambda wildcards: testset_spec(wildcards)["retrieval"]["depth"],
    log:
        "logs/runs/bm25/{testset}.log",
    benchmark:
        "benchmarks/runs/bm25/{testset}.tsv",
    threads: 2
    resources:
        **cluster_resources(mem_mb=4000, runtime=240),
    wildcard_constraints:
        testset=_alternatives(BM25_TESTSETS),
    conda:
        "../envs/study.yaml"
    shell:
        # k1 and b are always explicit: Pyserini silently changes them for some indexes.
        # Pyserini can exit 0 without writing a run, hence the check afterwards.
        "(python -m pyserini.search.lucene --index {params.index} --topics {input.topics}"
        " --output {output} --bm25 --k1 {params.k1} --b {params.b} --hits {params.depth}"
        " --threads {threads} --batch-size 16 --output-format trec"
        " && python -m crossopt.cli check-run {output}) > {log} 2>&1"


rule candidates:
    input:
        unpack(candidate_inputs),
    output:
        "results/testsets/{testset}/candidates.parquet",
    params:
        code=code("candidates.py"),
        index=index_argument,
    log:
        "logs/testsets/{testset}/candidates.log",
    benchmark:
        "benchmarks/testsets/{testset}/candidates.tsv",
    resources:
        **cluster_resources(mem_mb=4000, runtime=60),
    wildcard_constraints:
        testset=_alternatives(BM25_TESTSETS),
    conda:
        "../envs/study.yaml"
    script:
        "../scripts/candidates.py"
