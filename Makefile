# The two commands a newcomer needs: `make run` and `make test`. Everything they need is installed
# here, into .venv (Python) and .cache (the Kafka jars, resolved by Maven on first use).
PY       ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help install run down status test test-fast test-nofault bench schemas lock clean

help:
	@echo "make run     start PostgreSQL + Kafka and the services locally, with demo data"
	@echo "make test    run every test against real Kafka and PostgreSQL"
	@echo "make bench   run the benchmarks (results: bench/RESULTS.md)"
	@echo "make down    stop the local stack"

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	$(BIN)/python -m pip check
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/ehr dev up
	$(BIN)/ehr db migrate
	$(BIN)/ehr topics apply
	$(BIN)/ehr services start
	$(BIN)/ehr seed demo
	$(BIN)/ehr dev status
	$(BIN)/ehr services status

down: $(STAMP)
	$(BIN)/ehr services stop
	$(BIN)/ehr dev down

status: $(STAMP)
	$(BIN)/ehr dev status

# the layers first (import-linter contracts in pyproject.toml), then every test
test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# pure and in-memory tests only: no PostgreSQL, no Kafka
test-fast: $(STAMP)
	$(BIN)/lint-imports
	EHR_PROPERTY_CASES=500 $(BIN)/python -m pytest -m "not stack and not fault" $(PYTEST_ARGS)

# every test but the fault tests (kill -9, broker stop)
test-nofault: $(STAMP)
	$(BIN)/python -m pytest -m "not fault" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

schemas: $(STAMP)
	$(BIN)/ehr schemas export

lock:
	rm -rf /tmp/ehr-lock && $(PY) -m venv /tmp/ehr-lock
	/tmp/ehr-lock/bin/pip install --quiet -e ".[test]"
	(echo "# Every transitive version, so a clean machine resolves what CI ran. Regenerate: make lock"; \
	 /tmp/ehr-lock/bin/pip freeze --exclude-editable | grep -vi "^ehr") > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
