"""Small command-line tools used by shell rules and by people.

    python -m crossopt.cli check-run RUN        fail unless RUN is a non-empty, well-formed run file
    python -m crossopt.cli validate-config CFG  validate a config file and print its resolved form
"""

from __future__ import annotations

import argparse
import sys

import yaml


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crossopt.cli", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check-run", help="check that a TREC run file exists, is non-empty and well-formed")
    check.add_argument("run")
    validate = commands.add_parser("validate-config", help="validate a config against the schema and print it")
    validate.add_argument("config")
    args = parser.parse_args(argv)

    if args.command == "check-run":
        from .trec import check_run_file

        count = check_run_file(args.run)
        print(f"{args.run}: {count} lines")
    elif args.command == "validate-config":
        from .config import ConfigError, load_config

        try:
            config = load_config(args.config)
        except ConfigError as error:
            print(f"{args.config}: {error}", file=sys.stderr)
            return 1
        yaml.safe_dump(config, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
