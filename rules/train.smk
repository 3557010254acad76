rule train:
    input:
        base=base_model,
        train="results/data/train.parquet",
        heldout="results/data/heldout.parquet",
    output:
        epochs=[directory(path) for path in epoch_dirs()],
        state="results/models/{model}/{optim}/seed{seed}/trainer_state.json",
        # GPU type, wall and GPU seconds of this job (summed by rules/cost.smk).
        cost="results/models/{model}/{optim}/seed{seed}/cost.json",
    params:
        code=code("train.py"),
        settings=lambda wildcards: STUDY.run_settings(wildcards.model, wildcards.optim),
        model_source=lambda wildcards: STUDY.model_spec(wildcards.model),
        work_dir="results/train/{model}/{optim}/seed{seed}",
        backend=config["training"]["backend"],
        # Where a modal job runs must not make finished runs stale: a param computed from
        # `resources` is left out of Snakemake's params check.
        modal=lambda wildcards, resources: config["modal"],
        # How often to checkpoint; also left out of the params check, as it changes no result.
        checkpointing=lambda wildcards, resources: {"save_steps": config["training"].get("save_steps")},
    log:
        "logs/train/{model}/{optim}/seed{seed}.log",
    benchmark:
        "benchmarks/train/{model}/{optim}/seed{seed}.tsv"
    threads: 1
    resources:
        **cluster_resources(mem_mb=4000, runtime=720, gpu=gpu_count(config["training"]["backend"])),
    conda:
        "../envs/training.yaml"
    script:
        "../scripts/train.py"


# With the Modal backend the job only uploads, waits and downloads: under a cluster
# executor (profiles/) it runs on the submitting host instead of holding a node.
if config["training"]["backend"] == "modal":

    localrules:
        train,
