# AME: two commands on a fresh machine — `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast bench lint lint-asl lint-py lint-types clean portal apidocs screenshots
NPM ?= npm

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet "pip<26.3"
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# The portal SPA (portal/, PORTAL-INTERFACE): `npm ci` when the lockfile changed, the build when a source is
# newer than portal/dist. Nothing to do before portal/ exists.
PORTAL_SOURCES := $(shell find portal/src portal/build.mjs portal/package.json -type f 2>/dev/null)
portal/node_modules/.package-lock.json: portal/package-lock.json
	cd portal && $(NPM) ci --no-audit --no-fund
portal/dist/index.html: portal/node_modules/.package-lock.json $(PORTAL_SOURCES)
	cd portal && $(NPM) run build
	touch $@
portal: $(if $(wildcard portal/package.json),portal/dist/index.html)

# The API reference at /docs: Swagger UI from the pinned npm package, copied next to AME's own files.
APIDOCS_STAMP := chalicelib/static/apidocs/.vendored
apidocs/node_modules/.package-lock.json: apidocs/package-lock.json
	cd apidocs && $(NPM) ci --no-audit --no-fund
$(APIDOCS_STAMP): apidocs/node_modules/.package-lock.json
	cp apidocs/node_modules/swagger-ui-dist/swagger-ui-bundle.js apidocs/node_modules/swagger-ui-dist/swagger-ui.css \
	   chalicelib/static/apidocs/
	touch $@
apidocs: $(APIDOCS_STAMP)

# Past orders for the Painel and the analytics files under .local/analytics (docs/analytics.md); the
# retention archive under .local/archive (docs/data-lifecycle.md).
run: install portal apidocs
	AME_LOCAL_ANALYTICS_SEED=$${AME_LOCAL_ANALYTICS_SEED:-2000} AME_ANALYTICS_LOCAL_DIR=$${AME_ANALYTICS_LOCAL_DIR:-.local/analytics} \
		AME_ARCHIVE_LOCAL_DIR=$${AME_ARCHIVE_LOCAL_DIR:-.local/archive} $(PY) -m ame_local run

test: install lint portal apidocs
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

# Refresh the README's order-page screenshot through the browser tests (they save .local/screenshots/).
SCREENSHOT_TESTS ?= quorum
README_SCREENSHOT ?= ordem-sem-quorum-1280
screenshots: install portal apidocs
	$(PY) -m pytest tests/e2e/portal -k "$(SCREENSHOT_TESTS)" -q
	mkdir -p docs/img
	cp .local/screenshots/$(README_SCREENSHOT).png docs/img/portal-ordem.png

test-fast: install apidocs
	$(PY) -m pytest -n 2 --dist loadfile -m "not e2e and not chaos" $(PYTEST_ARGS)

bench: install
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Every gate is a target of its own; `lint` runs them all and `test` runs `lint` first.
LINT_GATES := lint-asl lint-py lint-types
lint: $(LINT_GATES)

# ruff's linter and formatter (ruff.toml), then strict types for the pure core and the services (mypy.ini).
lint-py: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

lint-types: install
	$(VENV)/bin/mypy

# The committed state machine as it is (valid JSON; `--ignore=URI` for its quoted ${...Arn} placeholders).
lint-asl: install
	$(VENV)/bin/statelint --ignore=URI statemachine.asl.json

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis

# Deploy (docs/deploy.md). STAGE has no default for deploy on purpose; ARTIFACT_BUCKET is an S3 bucket
# for code and templates; DRY_RUN=1 packages, validates and plans, then stops before calling AWS.
STAGE ?=
.PHONY: package validate deploy

package: install apidocs
	$(PY) -m infra.deploy package --stage "$(or $(STAGE),dev)"

validate: install apidocs
	$(PY) -m infra.deploy validate --stage "$(or $(STAGE),dev)"

deploy: install portal apidocs
	$(PY) -m infra.deploy deploy --stage "$(STAGE)" $(if $(ARTIFACT_BUCKET),--artifact-bucket "$(ARTIFACT_BUCKET)") $(if $(DRY_RUN),--dry-run)

# A token the local stack accepts: make token CLIENT=portal-bff AREAS=CREDITO_PJ,CONSIGNADO [SCOPES=ame:orders:read]
.PHONY: token
token: install
	@$(PY) -m ame_local.issuer token --client "$(CLIENT)" --areas "$(AREAS)" --scopes "$(SCOPES)"
