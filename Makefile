# AME: two commands on a fresh machine — `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast bench lint lint-asl clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet "pip<26.3"
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# Past orders for the Painel and the analytics files under .local/analytics (docs/analytics.md).
run: install
	AME_LOCAL_ANALYTICS_SEED=$${AME_LOCAL_ANALYTICS_SEED:-2000} AME_ANALYTICS_LOCAL_DIR=$${AME_ANALYTICS_LOCAL_DIR:-.local/analytics} \
		$(PY) -m ame_local run

test: install lint
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -n 2 --dist loadfile -m "not e2e and not chaos" $(PYTEST_ARGS)

bench: install
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Every gate is a target of its own; `lint` runs them all and `test` runs `lint` first.
LINT_GATES := lint-asl
lint: $(LINT_GATES)

# The committed state machine as it is (valid JSON; `--ignore=URI` for its quoted ${...Arn} placeholders).
lint-asl: install
	$(VENV)/bin/statelint --ignore=URI statemachine.asl.json

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis

# Deploy (docs/deploy.md). STAGE has no default for deploy on purpose; ARTIFACT_BUCKET is an S3 bucket
# for code and templates; DRY_RUN=1 packages, validates and plans, then stops before calling AWS.
STAGE ?=
.PHONY: package validate deploy

package: install
	$(PY) -m infra.deploy package --stage "$(or $(STAGE),dev)"

validate: install
	$(PY) -m infra.deploy validate --stage "$(or $(STAGE),dev)"

deploy: install
	$(PY) -m infra.deploy deploy --stage "$(STAGE)" $(if $(ARTIFACT_BUCKET),--artifact-bucket "$(ARTIFACT_BUCKET)") $(if $(DRY_RUN),--dry-run)

# A token the local stack accepts: make token CLIENT=portal-bff AREAS=CREDITO_PJ,CONSIGNADO [SCOPES=ame:orders:read]
.PHONY: token
token: install
	@$(PY) -m ame_local.issuer token --client "$(CLIENT)" --areas "$(AREAS)" --scopes "$(SCOPES)"
