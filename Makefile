# AME: two commands on a fresh machine — `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast bench lint clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet "pip<26.3"
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m ame_local run

test: install
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -n 2 --dist loadfile -m "not e2e and not chaos" $(PYTEST_ARGS)

bench: install
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: install
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

# The README's picture of the order page: runs the browser test that creates a QUORUM_MET order through the
# portal and copies its 1280 px screenshot (tests/e2e/portal saves every page under .local/screenshots/).
.PHONY: portal-screenshot
portal-screenshot: install
	$(PY) -m pytest -p no:cacheprovider -q "tests/e2e/portal/test_portal.py::test_create_an_order_through_the_form_and_see_quorum_met"
	mkdir -p docs/img && cp .local/screenshots/ordem-quorum-1280.png docs/img/portal-ordem.png
