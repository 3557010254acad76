"""Snakemake entry point: train one model with one optimizer and seed, locally or on Modal."""


from typing import TYPE_CHECKING

from crossopt.backends import train_with_backend
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(settings, model_spec, base_dir, train, heldout, work_dir, epoch_dirs, state, cost, seed, backend,
         modal_section, code=None, checkpointing=None) -> None:
    # save_steps travels with the settings but stays out of the run's fingerprint (backends.CHECKPOINTING_SETTINGS).
    settings = {**settings, **{key: value for key, value in (checkpointing or {}).items() if value}}
    summary = train_with_backend(backend, settings, model_spec, base_dir, train, heldout, work_dir, epoch_dirs,
                                 state, seed, cost, modal_section, code=code)
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
            snakemake.output.cost,
            int(snakemake.wildcards.seed),
            snakemake.params.backend,
            snakemake.params.modal,
            snakemake.params.code,
            snakemake.params.checkpointing,
        )
