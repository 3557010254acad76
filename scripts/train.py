"""Snakemake entry point: train one model with one optimizer and seed (local backend)."""


from typing import TYPE_CHECKING

from crossopt.logs import log_to
from crossopt.train import train_cross_encoder

if TYPE_CHECKING:
    from snakemake.script import snakemake


def model_location(model_spec: dict, base_dir: str | list) -> tuple[str, str | None]:
    """(path or hub id, revision) of the model to start from."""
    if model_spec["source"] == "tiny":
        return str(base_dir), None
    return model_spec["hub_id"], model_spec["revision"]


def main(settings, model_spec, base_dir, train, heldout, work_dir, epoch_dirs, state, seed, backend) -> None:
    if backend != "local":
        raise NotImplementedError(f"training backend {backend!r} is not available yet; use training.backend: local")
    path, revision = model_location(model_spec, base_dir)
    summary = train_cross_encoder(settings, path, train, heldout, work_dir, epoch_dirs, state, seed, revision)
    print(summary)


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        main(
            snakemake.params.settings,
            snakemake.params.model_source,
            snakemake.input.base,
            snakemake.input.train,
            snakemake.input.heldout,
            snakemake.params.work_dir,
            snakemake.output.epochs,
            snakemake.output.state,
            int(snakemake.wildcards.seed),
            snakemake.params.backend,
        )
