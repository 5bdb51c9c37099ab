#!/usr/bin/env bash
# make check-docker: Docker cannot run on the CI machines, so replay the Dockerfile instead.
# The build stage's ENV/WORKDIR/COPY/RUN lines run in a fresh virtual environment in a scratch
# directory (dependency install, collectstatic); then the final stage's CMD is started and its
# HEALTHCHECK must pass. Details: scripts/dockerfile_replay.py. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
python_bin="$(command -v python3.11 || command -v python3)"
exec "$python_bin" scripts/dockerfile_replay.py "$@"
