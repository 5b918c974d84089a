# make run   : the default benchmark end to end (offline), leaderboard in leaderboards/
# make test  : the test suite (fast tests; `make test-slow` for the long ones)
# Both create or refresh the local virtual environment .venv first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# the embedded suite (conf/experiment/*.yaml with a suite: block, benchmark/suite.py) is listed by
# $(BIN)/landscape-bench-suite inside the recipes, once the venv exists

.PHONY: run test test-slow leaderboards transfer stability reproduce config-reference perf lint format clean-store venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/landscape-bench $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(ARGS)

# every embedded zoo's leaderboard, plots and zoo summary, then docs/zoos.md, the overall
# ranking of feature sets across the zoos with landscapes (leaderboards/overall.md; feature tables
# score other feature sets), the leave-one-zoo-out transfer board (leaderboards/transfer.md) and, from
# all of them, the static site leaderboards/site/index.html (docs/site.md)
# JOBS processes (one thread each; default 2) run each experiment together, the most work first: the
# store's per-item locks split its models and score rows between them, and each waits for the
# others' before a stage ends, so the processes finish every experiment together (the last one to
# finish writes its leaderboard)
JOBS ?= 2
leaderboards: $(STAMP)
	suite="$$($(BIN)/landscape-bench-suite)" || exit 1; \
	ranked="$$($(BIN)/landscape-bench-suite --landscapes)" || exit 1; \
	for experiment in $$($(BIN)/landscape-bench-suite --heaviest-first); do \
		seq $(JOBS) | xargs -P $(JOBS) -I{} $(BIN)/landscape-bench experiment=$$experiment || exit 1; \
	done; \
	$(BIN)/landscape-bench-zoo-index leaderboards docs/zoos.md $$suite || exit 1; \
	$(BIN)/landscape-bench-overall leaderboards $$ranked
	$(MAKE) transfer
	$(BIN)/landscape-bench-site leaderboards

# leave-one-zoo-out transfer across the suite's zoos marked transfer: true (leaderboards/transfer.md)
transfer: $(STAMP)
	suite="$$($(BIN)/landscape-bench-suite --transfer)" || exit 1; \
	$(BIN)/landscape-bench-transfer --experiments $$suite

# descriptor stability across resolutions and direction seeds (docs/stability.md, leaderboards/stability.csv;
# leaderboards written afterwards mark unstable descriptors); the resolutions are the experiment's suite.stability_steps
stability: $(STAMP)
	$(BIN)/landscape-bench-stability --experiment default --steps 21 41 81 --seeds 0 1 2

# the seed paper's claims, measured (docs/reproduction.md and its figures)
reproduce: $(STAMP)
	$(BIN)/landscape-bench-reproduce

# the configuration reference, from conf/
config-reference: $(STAMP)
	$(BIN)/landscape-bench-config-reference conf docs/config_reference.md

# grid and curvature engines side by side with peer packages (docs/performance.md); e.g. ARGS='--threads 2'.
# Landscaper's dependency topopy pins numpy<2 and networkx<3, so it goes in without dependencies.
perf: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m pip install --quiet --no-deps 'landscaper==1.3.1' 'topopy==1.0.4' 'nglpy==1.1.7'
	$(BIN)/landscape-bench-perf $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean-store:
	rm -rf .landscape-bench
