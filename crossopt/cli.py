"""Small command-line tools used by shell rules and by people.

    python -m crossopt.cli check-run RUN        fail unless RUN is a non-empty, well-formed run file
    python -m crossopt.cli validate-config CFG [CFG ...]
                                                validate the config that `--configfile CFG ...` gives (overlays
                                                merged in order), check its local files, summarize it
    python -m crossopt.cli preflight [--configfile CFG ...]
                                                before a real run: pins, researcher's files, Modal token,
                                                GPUs, base-model dtypes, disk; job counts and a cost range
    python -m crossopt.cli check-index INDEX [--documents N]
                                                count an index's documents; fail unless there are N
"""

from __future__ import annotations

import argparse
import sys


def config_summary(study) -> list[str]:
    """A few lines on what a valid study (crossopt.study.Study) will run: test sets, models,
    optimizers, job counts."""
    from crossopt.config import beir_testset_folder

    config, testsets = study.config, study.testsets
    disabled = [key for key in config["testsets"] if key not in testsets]
    seeds, epochs = study.seeds, len(study.epochs)
    trainings = len(study.models) * len(study.optimizers) * len(seeds)
    checkpoints = trainings * epochs
    lines = ["test sets:"]
    for key in testsets:
        spec = study.testset(key)
        where = {"beir": lambda: (f"{spec['path']}" if spec.get("path") else
                                  f"download {spec['download']['url']} -> {beir_testset_folder(config, key)}")
                                 + f" (split {spec['split']})",
                 "pyserini": lambda: f"topics {spec.get('topics_file') or spec['topics']}, qrels {spec['qrels']}"}
        detail = where.get(spec["source"], lambda: "")()
        lines.append(f"  {key}: {spec['name']} [{spec['source']}{', ' + detail if detail else ''}; "
                     f"relevance level {spec['relevance_level']}, missing queries {spec['missing_queries']}]")
    if disabled:
        lines.append(f"  disabled: {', '.join(disabled)}")
    lines.append("models: " + ", ".join(f"{k} ({name})" for k, name in study.grid.models.items()))
    lines.append("optimizers: " + ", ".join(f"{k} ({name})" for k, name in study.grid.optimizers.items())
                 + f"; reference {study.reference}")
    lines.append(
        f"jobs to run: {trainings} trainings ({len(seeds)} seed(s)), {checkpoints} checkpoints "
        f"({epochs} epochs), {trainings} reranking jobs (one per training run: {checkpoints * len(testsets)} run "
        f"files) and {checkpoints * len(testsets) + len(testsets)} evaluation jobs ({len(testsets)} first-stage "
        f"runs included)"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crossopt.cli", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check-run", help="check that a TREC run file exists, is non-empty and well-formed")
    check.add_argument("run")
    validate = commands.add_parser(
        "validate-config", help="validate a config against the schema, check the local files it names, summarize it")
    validate.add_argument("config", nargs="+",
                          help="config files in --configfile's order: a complete config (study and models "
                               "sections) replaces config.yaml, any other file is an overlay merged on top")
    validate.add_argument("--directory", default=".",
                          help="folder snakemake will run in: relative paths in the config start there (default: .)")
    flight = commands.add_parser("preflight", help="check what a real run needs and say what it will cost")
    flight.add_argument("--configfile", nargs="*", default=[], dest="configfiles",
                        help="the run's config files, in --configfile's order (default: config.yaml)")
    flight.add_argument("--results", default="results", help="the results folder (base models, free space)")
    index = commands.add_parser("check-index", help="open a Lucene index folder (or prebuilt name), count its documents")
    index.add_argument("index")
    index.add_argument("--documents", type=int, help="the count it must have (msmarco-v1-passage: 8841823)")
    args = parser.parse_args(argv)

    if args.command == "check-run":
        from .trec import check_run_file

        count = check_run_file(args.run)
        print(f"{args.run}: {count} lines")
    elif args.command == "validate-config":
        from pathlib import Path

        from .config import ConfigError, compose_config, is_complete_config, local_path_problems, read_config_file
        from .study import Study

        default = Path(__file__).resolve().parent.parent / "config.yaml"
        label = " + ".join(args.config)
        try:
            kinds = [("complete" if is_complete_config(read_config_file(f)) else "overlay") for f in args.config]
            if kinds[0] == "overlay":
                label = f"{default.name} + {label}"
            study = Study.from_config(compose_config(args.config, None, default))
        except ConfigError as error:
            print(f"{label}: {error}", file=sys.stderr)
            return 1
        problems = local_path_problems(dict(study.config), args.directory)
        if problems:
            print(f"{label}: missing local files:\n  - " + "\n  - ".join(problems), file=sys.stderr)
            return 1
        print("read: " + ", ".join(f"{f} ({kind})" for f, kind in zip(args.config, kinds))
              + ("" if kinds[0] == "complete" else f", on top of {default}"))
        print("\n".join(config_summary(study)))
        print(f"{label} is valid.")
    elif args.command == "preflight":
        from pathlib import Path

        from .preflight import main as preflight_main

        return preflight_main(args.configfiles, Path(__file__).resolve().parent.parent, Path(args.results))
    elif args.command == "check-index":
        from .sources import index_document_count

        try:
            count = index_document_count(args.index)
        except (FileNotFoundError, RuntimeError) as error:
            print(f"{args.index}: {error}", file=sys.stderr)
            return 1
        print(f"{args.index}: {count} documents")
        if args.documents is not None and count != args.documents:
            print(f"{args.index}: expected {args.documents} documents, found {count}: "
                  "the index is incomplete or of another collection", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
