# `make paper` (set up, then build the paper from the researcher's files in data/: no training),
# `make smoke` (set up, then run the whole study on the toy config),
# `make scifact` (the real, small replication on BEIR SciFact, CPU, config/scifact.yaml)
# and `make test` (set up, then run the tests). All create .venv on first use.
# requirements.txt includes Snakemake's SLURM executor plugin. The tests that need a SLURM cluster
# (marker slurm_cluster; a cluster, e.g. `.ci/slurm-up`, must be up) run with `make test-slurm`,
# or together with all others with `make test SLURM_TESTS=1` (what CI does).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 4

.PHONY: setup paper smoke scifact test test-slurm dag clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

paper: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --cores $(CORES) paper

smoke: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --configfile config/smoke.yaml --cores $(CORES) all

# Two cores is what the profile's time budget was measured on (README, "SciFact replication").
# The data are downloaded from BEIR; SCIFACT_OVERLAY=config/scifact-local.yaml reads a local copy instead.
SCIFACT_OVERLAY ?=
scifact: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --configfile config/scifact.yaml $(SCIFACT_OVERLAY) --cores 2 replication

# The tests run in TEST_WORKERS processes (pytest-xdist), each test file in one of them
# (--dist loadfile: a file's module fixtures are built once). TEST_WORKERS=0 runs them in one.
TEST_WORKERS ?= 2
# SLURM_TESTS=1 adds the tests that run a small study on a SLURM cluster, and makes a missing
# cluster a failure (CROSSOPT_REQUIRE_SLURM); without it they are not collected.
SLURM_TESTS ?= 0
ifeq ($(SLURM_TESTS),1)
TEST_SELECT :=
else
TEST_SELECT := -m "not slurm_cluster"
endif
test: setup
	PATH=$(CURDIR)/$(BIN):$$PATH CROSSOPT_REQUIRE_SLURM=$(SLURM_TESTS) $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(TEST_SELECT)

test-slurm: setup
	PATH=$(CURDIR)/$(BIN):$$PATH CROSSOPT_REQUIRE_SLURM=1 $(BIN)/python -m pytest -q -m slurm_cluster tests/test_slurm.py

dag: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake results/table.tsv --configfile config/smoke.yaml --dag | dot -Tsvg > dag.svg

clean:
	rm -rf results logs benchmarks .snakemake dag.svg
