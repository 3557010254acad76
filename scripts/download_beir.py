"""Snakemake entry point: a BEIR dataset's public zip, its pinned files checked by sha256."""


from typing import TYPE_CHECKING

from crossopt.logs import log_to
from crossopt.sources import download_beir

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(url: str, sha256: dict, md5: str | None, output: str) -> None:
    record = download_beir(url, sha256, output, md5=md5)
    print({k: v for k, v in record.items() if k != "sha256"})


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        main(snakemake.params.url, snakemake.params.sha256, snakemake.params.md5, snakemake.output[0])
