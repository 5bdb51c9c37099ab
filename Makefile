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

# Local-only settings for `make run`: DEBUG on, the sandbox on, keys generated once in var/.
RUN_ENV := DEBUG=true SANDBOX_ENABLED=true \
	SECRET_KEY_FILE=var/secret_key ENCRYPTION_KEYS_FILE=var/encryption_keys \
	OUTBOUND_ALLOWED_HOSTS=127.0.0.1,localhost \
	SANDBOX_BASE_URL=http://$(HOST):$(SANDBOX_PORT)/sandbox \
	ALLOWED_HOSTS=127.0.0.1,localhost

.PHONY: install run serve test lint format check-docker clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

var/secret_key:
	@mkdir -p var && chmod 700 var
	@$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@ && chmod 600 $@

var/encryption_keys: $(STAMP)
	@mkdir -p var && chmod 700 var
	@$(PY) -m provisioning.crypto new-key k1 > $@ && chmod 600 $@

## run: set up everything on first use, then start the web server, the sandbox and the job worker
run: $(STAMP) var/secret_key var/encryption_keys
	@$(RUN_ENV) $(PY) manage.py migrate --noinput -v 0
	@$(RUN_ENV) $(PY) manage.py createcachetable
	@$(RUN_ENV) $(PY) manage.py bootstrap --url http://$(HOST):$(PORT)/
	@$(MAKE) --no-print-directory serve

# The web server, the job worker, and a second server for the sandbox's API: served by the
# web server itself, a Send would hold one of its threads while its call to the sandbox
# waits for another, and enough Sends at once would leave none free.
serve:
	@trap 'kill 0' INT TERM EXIT; \
	$(RUN_ENV) $(PY) manage.py worker --interval 0.5 & \
	$(RUN_ENV) $(VENV)/bin/gunicorn config.wsgi --bind $(HOST):$(PORT) --workers 2 --threads 8 \
		--no-control-socket --access-logfile - --log-level warning & \
	$(RUN_ENV) $(VENV)/bin/gunicorn config.wsgi --bind $(HOST):$(SANDBOX_PORT) --workers 1 --threads 8 \
		--no-control-socket --log-level warning & \
	wait

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
