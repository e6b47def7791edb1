# Chamberlain — two commands on a fresh machine:  `make demo`  and  `make test`.
# Everything installs into .venv from the lock file; nothing is fetched at run time.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# torch comes from pip first: its CPU build (uv would otherwise pull the CUDA one).
TORCH  := torch==2.13.0

.PHONY: install demo test test-fast lint typecheck bench evals redteam lock clean postgres

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11 or run 'make PYTHON=/path/to/python3.11'"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv $(TORCH)
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode --quiet -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode --quiet --no-deps -e .
	touch $@

demo: install
	$(BIN)/chamberlain demo

# Tests need a PostgreSQL server binary (the tests start a private cluster themselves).
postgres:
	@bash .ci/ensure-postgres.sh

test: install postgres
	$(BIN)/pytest -n 2 --dist loadgroup

test-fast: install
	$(BIN)/pytest -n 2 -m "not postgres"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

evals: install
	$(BIN)/python -m evals.run

redteam: install
	$(BIN)/python -m evals.redteam.run

bench: install
	$(BIN)/python benchmarks/orchestration_bench.py
	$(BIN)/python benchmarks/sql_guard_bench.py
	$(BIN)/python benchmarks/retrieval_bench.py
	$(BIN)/python benchmarks/slack_burst_bench.py
	$(BIN)/python benchmarks/token_bench.py

# Regenerate the lock after changing dependencies in pyproject.toml.
lock:
	echo "torch==2.13.0+cpu" > .ci/torch-override.txt
	$(BIN)/uv pip compile pyproject.toml --extra dev --no-emit-package torch --find-links /opt/wheels \
		--override .ci/torch-override.txt --python $(BIN)/python -o requirements.lock

clean:
	rm -rf .chamberlain .pytest_cache .mypy_cache .ruff_cache
