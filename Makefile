# Provisioner: `make run` to try it, `make test` to test it. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
# The sandbox's API gets a server of its own, as a provider is elsewhere (see serve).
SANDBOX_PORT ?= $(shell echo $$(( $(PORT) + 1 )))
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt 2>/dev/null | cksum | cut -d' ' -f1)
# Where `make run` keeps its keys (and, by default, the database: settings' DATABASE_URL).
VAR ?= var
comma := ,

# Local-only settings for `make run` and `make manage`: DEBUG on, the sandbox on, keys generated
# once in var/. The loopback hosts are added to an OUTBOUND_ALLOWED_HOSTS of your own, not put
# in its place.
RUN_ENV := DEBUG=true SANDBOX_ENABLED=true \
	SECRET_KEY_FILE=$(VAR)/secret_key ENCRYPTION_KEYS_FILE=$(VAR)/encryption_keys \
	OUTBOUND_ALLOWED_HOSTS=$(if $(OUTBOUND_ALLOWED_HOSTS),$(OUTBOUND_ALLOWED_HOSTS)$(comma))127.0.0.1,localhost \
	SANDBOX_BASE_URL=http://$(HOST):$(SANDBOX_PORT)/sandbox \
	ALLOWED_HOSTS=127.0.0.1,localhost

SERVE := bash scripts/serve.sh
SERVE_ARGS = $(HOST) $(PORT) $(SANDBOX_PORT) $(VENV)

.PHONY: install run serve manage test lint format check-docker clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

$(VAR)/secret_key:
	@mkdir -p $(VAR) && chmod 700 $(VAR)
	@$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@ && chmod 600 $@

$(VAR)/encryption_keys: $(STAMP)
	@mkdir -p $(VAR) && chmod 700 $(VAR)
	@$(PY) -m provisioning.crypto new-key k1 > $@ && chmod 600 $@

## run: set up everything on first use, then start the web server, the sandbox and the job worker
run: $(STAMP) $(VAR)/secret_key $(VAR)/encryption_keys
	@$(SERVE) --check $(SERVE_ARGS)
	@$(RUN_ENV) $(PY) manage.py migrate --noinput -v 0
	@$(RUN_ENV) $(PY) manage.py createcachetable
	@$(RUN_ENV) $(PY) manage.py bootstrap --url http://$(HOST):$(PORT)/
	@$(RUN_ENV) $(SERVE) $(SERVE_ARGS)

# The web server, the job worker, and a second server for the sandbox's API: served by the
# web server itself, a Send would hold one of its threads while its call to the sandbox
# waits for another, and enough Sends at once would leave none free. scripts/serve.sh checks
# the ports first and stops all three together.
serve: $(STAMP) $(VAR)/secret_key $(VAR)/encryption_keys
	@$(RUN_ENV) $(SERVE) $(SERVE_ARGS)

## manage: manage.py with the environment of `make run`, e.g. make manage ARGS="provision --help"
manage: $(STAMP) $(VAR)/secret_key $(VAR)/encryption_keys
	@$(RUN_ENV) $(PY) manage.py $(ARGS)

## test: install what the tests need and run every test
test: $(STAMP)
	@bash scripts/ensure-browser.sh || true
	@$(PY) -m pytest; status=$$?; if [ $$status -eq 5 ]; then echo "no tests were collected"; exit 1; fi; exit $$status

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## check-docker: the Dockerfile's build steps (install, collectstatic) in a fresh virtual environment, and its CMD
check-docker:
	bash scripts/check-docker-steps.sh

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
