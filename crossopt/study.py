"""The study as one typed object, built once from the validated config.

`Study.from_config` validates the config (`crossopt.config.validate_config`: the
schema fills every default, the cross-references are checked) and turns it into
the facts the workflow works with: which models, optimizers, seeds, epochs and
test sets there are, which optimizer is the reference and which the candidates,
the results table's columns, the statistics settings, each run's settings and the
path patterns of the outputs. `rules/common.smk` builds it once; nothing below the
schema restates a default.

Rules hand a script only the slice of the study it uses (`Study.table_params`,
`Study.statistics_params`, ...), as plain data, so that Snakemake's params check
reruns exactly the outputs a config change affects. The package functions turn a
slice back into the typed pieces below (`Grid`, `Column`, `StatisticsSettings`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .config import enabled_testsets, epochs, load_config, run_settings, validate_config

ID_COLUMNS = ("Base Model", "Optimizer", "Epoch")

# Output path patterns (the Snakefile's header writes them out).
EPOCH_DIR = "results/models/{model}/{optim}/seed{seed}/epoch{epoch}"
RUN = "results/runs/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.trec"
EVAL = "results/eval/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.json"
FIRST_STAGE_EVAL = "results/eval/{stage}/{testset}.json"
REPORTED_EVAL = "results/reported/eval/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.json"


@dataclass(frozen=True)
class Column:
    """One measure column of the results table: its heading, test set and evaluation measure."""

    name: str
    testset: str
    measure: str


def columns_from(specs: Sequence[Mapping[str, str]] | Mapping[str, Mapping[str, str]]) -> tuple[Column, ...]:
    """Columns from a params slice (a list of {name, testset, measure}) or from `table.columns`."""
    if isinstance(specs, Mapping):
        return tuple(Column(name, spec["testset"], spec["measure"]) for name, spec in specs.items())
    return tuple(Column(spec["name"], spec["testset"], spec["measure"]) for spec in specs)


@dataclass(frozen=True)
class Grid:
    """The runs of the study: every model x optimizer x seed x epoch.

    `models` and `optimizers` map keys to display names, in config order.
    """

    models: Mapping[str, str]
    optimizers: Mapping[str, str]
    seeds: tuple[int, ...]
    epochs: tuple[int, ...]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "Grid":
        """From a params slice; models/optimizers may be key lists (no display names)."""
        def named(value):
            return dict(value) if isinstance(value, Mapping) else {key: key for key in value}

        return cls(named(params["models"]), named(params["optimizers"]), tuple(params["seeds"]),
                   tuple(params["epochs"]))


@dataclass(frozen=True)
class StatisticsSettings:
    """The `statistics` section: which optimizer is the reference, and the tests' settings."""

    baseline_optimizer: str
    alpha: float
    test: str
    permutations: int
    bootstrap_resamples: int
    confidence: float
    seed: int

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "StatisticsSettings":
        return cls(**params)

    @property
    def options(self) -> dict[str, Any]:
        """Keyword arguments of `crossopt.stats.compare_runs`."""
        return dict(n_permutations=self.permutations, n_resamples=self.bootstrap_resamples, seed=self.seed,
                    level=self.confidence)


@dataclass(frozen=True)
class Study:
    """The validated study (see the module docstring). `config` is the validated config itself."""

    config: Mapping[str, Any] = field(repr=False)
    grid: Grid
    testsets: tuple[str, ...]  # the enabled ones, in config order
    columns: tuple[Column, ...]
    statistics: StatisticsSettings

    @classmethod
    def from_config(cls, config: dict) -> "Study":
        """Validate `config` in place (defaults filled; ConfigError naming the key) and build the study."""
        validate_config(config)
        grid = Grid(
            models={key: spec["name"] for key, spec in config["models"].items()},
            optimizers={key: spec["name"] for key, spec in config["optimizers"].items()},
            seeds=tuple(config["study"]["seeds"]),
            epochs=tuple(epochs(config)),
        )
        return cls(
            config=config,
            grid=grid,
            testsets=tuple(enabled_testsets(config)),
            columns=columns_from(config["table"]["columns"]),
            statistics=StatisticsSettings(**config["statistics"]),
        )

    @classmethod
    def load(cls, path: str | Path) -> "Study":
        return cls.from_config(load_config(path))

    # --- the grid

    @property
    def models(self) -> list[str]:
        return list(self.grid.models)

    @property
    def optimizers(self) -> list[str]:
        return list(self.grid.optimizers)

    @property
    def seeds(self) -> list[int]:
        return list(self.grid.seeds)

    @property
    def epochs(self) -> list[int]:
        return list(self.grid.epochs)

    @property
    def reference(self) -> str:
        """The optimizer every other one is compared with (statistics.baseline_optimizer)."""
        return self.statistics.baseline_optimizer

    @property
    def candidates(self) -> list[str]:
        """The optimizers compared with the reference, in config order."""
        return [optim for optim in self.optimizers if optim != self.reference]

    def run_settings(self, model: str, optim: str) -> dict:
        """Everything that differs between training runs, overrides applied (crossopt.config.run_settings)."""
        return run_settings(dict(self.config), model, optim)

    def model_spec(self, model: str) -> dict[str, Any]:
        """A model's config without its display name: what building, fetching and training use,
        so that renaming a model rewrites the tables and the paper, not the checkpoints."""
        return {key: value for key, value in self.config["models"][model].items() if key != "name"}

    # --- test sets

    def testset(self, key: str) -> Mapping[str, Any]:
        return self.config["testsets"][key]

    def testsets_with_source(self, *sources: str) -> list[str]:
        """Keys of every configured test set (enabled or not) with one of these sources."""
        return [key for key, spec in self.config["testsets"].items() if spec["source"] in sources]

    def evaluation_params(self, key: str) -> dict[str, Any]:
        """How a test set's runs are evaluated (crossopt.evaluate.evaluate_files)."""
        spec = self.testset(key)
        return {name: spec[name] for name in ("relevance_level", "missing_queries", "extra_relevance_levels")}

    def download_params(self, key: str) -> dict[str, Any]:
        """Where a hub test set (source msmarco_v11) comes from."""
        spec = self.testset(key)
        return {name: spec.get(name) for name in ("hf_dataset", "hf_config", "hf_split", "hf_revision")}

    @property
    def column_testsets(self) -> list[str]:
        """The test sets the table's columns are computed on, sorted."""
        return sorted({column.testset for column in self.columns})

    @property
    def extra_levels(self) -> list[int]:
        """Relevance levels stored besides the configured ones; each gets a second table."""
        return sorted({level for key in self.testsets for level in self.testset(key)["extra_relevance_levels"]})

    # --- output paths

    def epoch_dirs(self, model: str = "{model}", optim: str = "{optim}", seed: Any = "{seed}") -> list[str]:
        return [EPOCH_DIR.format(model=model, optim=optim, seed=seed, epoch=e) for e in self.epochs]

    def evaluations(self, pattern: str = EVAL, testsets: Sequence[str] | None = None) -> list[str]:
        """Every reranker evaluation of the grid on `testsets` (default: the enabled ones)."""
        return [pattern.format(model=m, optim=o, seed=s, epoch=e, testset=t)
                for m in self.models for o in self.optimizers for s in self.seeds for e in self.epochs
                for t in (self.testsets if testsets is None else testsets)]

    # --- params slices: plain data, so that Snakemake's params check sees every change

    def table_params(self) -> dict[str, Any]:
        """What results/table.tsv shows: the grid with display names, and the columns."""
        return {"models": dict(self.grid.models), "optimizers": dict(self.grid.optimizers),
                "seeds": self.seeds, "epochs": self.epochs,
                "columns": [asdict(column) for column in self.columns]}

    def statistics_params(self) -> dict[str, Any]:
        """What the significance tests use: the grid by key (names do not matter), columns, settings."""
        return {"models": self.models, "optimizers": self.optimizers, "seeds": self.seeds,
                "epochs": self.epochs, "columns": [asdict(column) for column in self.columns],
                "settings": asdict(self.statistics)}
