# Chamberlain — two commands on a fresh machine:  `make demo`  and  `make test`.
# Everything installs into .venv from the lock file; nothing is fetched at run time.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# Embeddings run on ONNX Runtime: the install has no torch (.ci/slim-overrides.txt drops the
# sentence-transformers that the model package declares). The torch baseline of the embedding
# benchmark lives outside it, in .venv-bench/ (`make bench-env`; `make bench` provisions it).
OVERRIDES := --override .ci/slim-overrides.txt

.PHONY: install uv bench-env demo test test-fast lint typecheck bench bench-quick evals redteam lock clean postgres chromium

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock .ci/slim-overrides.txt .ci/warm-bytecode.py
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11 or run 'make PYTHON=/path/to/python3.11'"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet -r requirements.lock $(OVERRIDES)
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	# AgentDojo (evals only) declares every LLM SDK it can drive; its suites need none of them.
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps agentdojo==0.1.35
	# Bytecode for what Chamberlain imports (~55 MB), not --compile-bytecode's ~230 MB for every file.
	$(BIN)/python .ci/warm-bytecode.py
	$(BIN)/pip uninstall --quiet --disable-pip-version-check -y uv
	touch $@

# uv installs the lock (pip cannot apply overrides). It is the installer (~38 MB), not part of the
# environment: `make install` removes it when done, and the targets that need it bring it back.
uv:
	test -x $(BIN)/uv || $(BIN)/pip install --quiet --disable-pip-version-check uv

# The torch baseline of benchmarks/embedding_bench.py (sentence-transformers on CPU torch), in a
# bench-only venv layered on .venv: benchmarks/bench_env.py. Installed with pip, which reads the
# machine's pip configuration (uv does not), and refused if pip would pull CUDA. Idempotent.
bench-env: install
	$(BIN)/python benchmarks/bench_env.py

demo: install
	$(BIN)/chamberlain demo

# Tests need a PostgreSQL server binary (the tests start a private cluster themselves).
postgres:
	@bash .ci/ensure-postgres.sh

# Browser tests drive Debian's chromium through chromedriver (installed with apt when missing).
chromium:
	@bash .ci/ensure-chromium.sh

test: install postgres chromium
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

# Every benchmarks/*_bench.py following the --json convention (benchmarks/README.md), one table.
# It provisions .venv-bench first (as bench-env; a failure leaves the torch rows "not judged");
# bench-quick (CI smoke) never does.
bench: install
	$(BIN)/python benchmarks/run_all.py

bench-quick: install
	$(BIN)/python benchmarks/run_all.py --quick

# Regenerate the lock after changing dependencies in pyproject.toml.
# No torch (nor kubernetes) in the lock: .ci/slim-overrides.txt drops what we never run.
lock: uv
	$(BIN)/uv pip compile pyproject.toml --extra dev $(OVERRIDES) --python $(BIN)/python -o requirements.lock

clean:
	rm -rf .chamberlain .pytest_cache .mypy_cache .ruff_cache
