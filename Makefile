# The two commands a newcomer needs: `make run` and `make test`. Everything they need is installed
# here, into .venv (Python) and .cache (the Kafka jars, resolved by Maven on first use).
PY       ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
PYTEST_ARGS ?=
# stamp of the HL7 FHIR validator's build (its rule is below; named here because `install` needs it)
FHIR_VALIDATOR_STAMP := .cache/fhir-validator/.installed
# helm, for the chart's tests (tests/deploy), built from the Go module proxy into .cache/bin;
# the stamp names the version, so a new HELM_VERSION builds again and an old one is a no-op
HELM_VERSION := v4.3.2
HELM_STAMP   := .cache/bin/.helm-$(HELM_VERSION)
# Debian's Chromium, for the citizen portal's browser tests (tests/citizen): installed when missing
CHROMIUM     ?= /usr/bin/chromium
# the local SMTP server `make run` starts for the citizen service's e-mail (aiosmtpd, a Maildir)
MAIL_DIR     := .local/mail

.PHONY: help install helm run down status test test-fast test-nofault bench bench-registry bench-citizen bench-workspace bench-routing schemas lock clean

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

install: $(STAMP) $(FHIR_VALIDATOR_STAMP)

$(HELM_STAMP):
	mkdir -p .cache/bin
	GOBIN=$(CURDIR)/.cache/bin go install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)
	touch $(HELM_STAMP)

helm: $(HELM_STAMP)

# the official AsyncAPI parser (tests/events/test_asyncapi_parser.py), pinned by
# tools/asyncapi/package-lock.json, installed with `npm ci` into .cache/asyncapi
ASYNCAPI_STAMP := .cache/asyncapi/.installed
$(ASYNCAPI_STAMP): tools/asyncapi/package.json tools/asyncapi/package-lock.json
	@command -v npm >/dev/null 2>&1 || { apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm; }
	mkdir -p .cache/asyncapi
	cp tools/asyncapi/package.json tools/asyncapi/package-lock.json .cache/asyncapi/
	cd .cache/asyncapi && npm ci --ignore-scripts --no-audit --no-fund
	touch $(ASYNCAPI_STAMP)

.PHONY: asyncapi-parser
asyncapi-parser: $(ASYNCAPI_STAMP)

# the HL7 FHIR validator (tests/fhir/test_validator.py): HAPI's instance validator, pinned by
# tools/fhir-validator/pom.xml, with our runner compiled by Maven into .cache/fhir-validator
$(FHIR_VALIDATOR_STAMP): tools/fhir-validator/pom.xml $(wildcard tools/fhir-validator/src/main/java/no/ehr/fhirvalidator/*.java)
	@command -v mvn >/dev/null 2>&1 || { apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends maven openjdk-17-jdk-headless; }
	rm -rf .cache/fhir-validator/lib
	mvn -q -B -f tools/fhir-validator/pom.xml compile dependency:copy-dependencies \
	  -DoutputDirectory=$(CURDIR)/.cache/fhir-validator/lib -DincludeScope=runtime
	touch $(FHIR_VALIDATOR_STAMP)

.PHONY: fhir-validator
fhir-validator: $(FHIR_VALIDATOR_STAMP)

# validators generated from the Strimzi and CloudNativePG CRDs (tests/deploy/
# test_operator_schemas.py), pinned by helm/crd-validators/package-lock.json
CRD_STAMP := .cache/crd-validators/.installed
$(CRD_STAMP): helm/crd-validators/package.json helm/crd-validators/package-lock.json
	@command -v npm >/dev/null 2>&1 || { apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm; }
	mkdir -p .cache/crd-validators
	cp helm/crd-validators/package.json helm/crd-validators/package-lock.json .cache/crd-validators/
	cd .cache/crd-validators && npm ci --ignore-scripts --no-audit --no-fund
	touch $(CRD_STAMP)

.PHONY: crd-validators
crd-validators: $(CRD_STAMP)

.PHONY: chromium mail-up mail-down
chromium:
	@test -x $(CHROMIUM) || command -v chromium >/dev/null 2>&1 || { apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }

# Debian's nginx, the local gateway (`ehr gateway`: one FHIR base, tests/gateway)
.PHONY: nginx
nginx:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light; }

mail-up: $(STAMP)
	@mkdir -p $(MAIL_DIR)
	@if [ -f $(MAIL_DIR)/smtp.pid ] && kill -0 $$(cat $(MAIL_DIR)/smtp.pid) 2>/dev/null; then :; \
	 else nohup $(BIN)/python -m aiosmtpd -n -l 127.0.0.1:8025 -c aiosmtpd.handlers.Mailbox \
	   $(MAIL_DIR)/inbox > $(MAIL_DIR)/smtp.log 2>&1 & echo $$! > $(MAIL_DIR)/smtp.pid; fi

mail-down:
	@if [ -f $(MAIL_DIR)/smtp.pid ]; then kill $$(cat $(MAIL_DIR)/smtp.pid) 2>/dev/null || true; \
	 rm -f $(MAIL_DIR)/smtp.pid; fi

run: $(STAMP) chromium nginx mail-up
	$(BIN)/ehr dev up
	$(BIN)/ehr db migrate
	$(BIN)/ehr topics apply
	$(BIN)/ehr services start
	$(BIN)/ehr gateway start
	$(BIN)/ehr seed demo
	$(BIN)/ehr seed municipality --persons 40
	$(BIN)/ehr welfare simulate --devices 12 --minutes 30
	$(BIN)/ehr dev status
	$(BIN)/ehr services status
	@echo "Citizen portal: http://localhost:8006/ - sign in as Kari Nordmann (pick her on the"
	@echo "  test-person page); e-mail it sends lands in $(MAIL_DIR)/inbox/new/ (SMTP 127.0.0.1:8025)"
	@echo "Clinician workspace: http://localhost:8010/ - sign in as Nina Sykepleier (home-care"
	@echo "  nurse, HPR 9144889; pick her on the test-clinician page): Kari and Ola are on her round"
	@echo "Alert board: http://localhost:8008/board - sign in as Nina Sykepleier (home-care unit)"

down: $(STAMP) mail-down
	$(BIN)/ehr gateway stop
	$(BIN)/ehr services stop
	$(BIN)/ehr dev down

status: $(STAMP)
	$(BIN)/ehr dev status

# the layers first (import-linter contracts in pyproject.toml), then every test
test: $(STAMP) $(HELM_STAMP) chromium nginx $(ASYNCAPI_STAMP) $(CRD_STAMP) $(FHIR_VALIDATOR_STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# pure and in-memory tests only: no PostgreSQL, no Kafka
test-fast: $(STAMP) $(HELM_STAMP) nginx $(ASYNCAPI_STAMP) $(CRD_STAMP)
	$(BIN)/lint-imports
	EHR_PROPERTY_CASES=500 $(BIN)/python -m pytest -m "not stack and not fault" $(PYTEST_ARGS)

# every test but the fault tests (kill -9, broker stop)
test-nofault: $(STAMP) $(HELM_STAMP) chromium nginx $(ASYNCAPI_STAMP) $(CRD_STAMP) $(FHIR_VALIDATOR_STAMP)
	$(BIN)/python -m pytest -m "not fault" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# the registry export's stream and batch benchmarks (printed; issue 14)
bench-registry: $(STAMP)
	$(BIN)/python -m bench.registry $(BENCH_REGISTRY_ARGS)

# the citizen portal's pages and "who looked" freshness (table, bench/out/; issue 13)
bench-citizen: $(STAMP)
	$(BIN)/python -m bench.citizen $(BENCH_CITIZEN_ARGS)

# the one FHIR base against the HAPI FHIR JPA server 8.8 on the same machine (table, bench/out/;
# issues 17 and 19). HAPI is our small Spring Boot app (bench/fhir/hapi), built by Maven from
# Maven Central into .cache/hapi-fhir; never part of `make test`. A shorter run:
#   make bench-fhir BENCH_FHIR_ARGS="--warmup 180 --rounds 2 --seconds 20"  (about 15 min)
HAPI_JAR := .cache/hapi-fhir/target/bench-hapi-fhir.jar
$(HAPI_JAR): bench/fhir/hapi/pom.xml $(wildcard bench/fhir/hapi/src/main/java/no/ehr/bench/hapi/*.java) \
             $(wildcard bench/fhir/hapi/src/main/resources/*)
	@command -v mvn >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 || { apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends maven openjdk-17-jdk-headless; }
	mvn -q -B -f bench/fhir/hapi/pom.xml package -DskipTests
	touch $(HAPI_JAR)

.PHONY: hapi-fhir bench-fhir
hapi-fhir: $(HAPI_JAR)

bench-fhir: $(STAMP) $(HAPI_JAR) nginx
	$(BIN)/python -m bench.fhir $(BENCH_FHIR_ARGS)

# the clinician workspace in Chromium, Slow 4G: time to a usable screen, cold and warm, and
# page weight, next to a bare FastAPI page (table, bench/out/; issue 18)
bench-workspace: $(STAMP) chromium
	$(BIN)/python -m bench.workspace $(BENCH_WORKSPACE_ARGS)

# welfare technology: ingestion, alarm -> worklist latency and worker memory, each next to a
# baseline (table, bench/out/; issue 15). A shorter run:
#   make bench-welfare BENCH_WELFARE_ARGS="--minutes 2 --devices 500 --rate 250"
.PHONY: bench-welfare
bench-welfare: $(STAMP)
	$(BIN)/python -m bench.welfare $(BENCH_WELFARE_ARGS)

# what finding its route costs a request in each service's app, beside an app of that route
# alone (table, bench/out/; no servers; issue 17)
bench-routing: $(STAMP)
	$(BIN)/python -m bench.routing $(BENCH_ROUTING_ARGS)

schemas: $(STAMP)
	$(BIN)/ehr schemas export

lock:
	rm -rf /tmp/ehr-lock && $(PY) -m venv /tmp/ehr-lock
	/tmp/ehr-lock/bin/pip install --quiet -e ".[test]"
	(echo "# Every transitive version, so a clean machine resolves what CI ran. Regenerate: make lock"; \
	 /tmp/ehr-lock/bin/pip freeze --exclude-editable | grep -vi "^ehr") > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
