#!/usr/bin/env bash
# make check-docker: Docker cannot run on the CI machines, so run the Dockerfile's own build
# steps without it. The build stage's ENV, WORKDIR, COPY and RUN lines run in order through
# bash, in a scratch directory that stands for the image's file system, with VIRTUAL_ENV
# pointing at a fresh virtual environment there instead of /opt/venv: the dependency install
# (pyproject.toml + constraints.txt), collectstatic, compileall. Then gunicorn checks the final
# stage's CMD (`--check-config` loads config.wsgi from that environment without binding).
# Any failure exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
context="$PWD"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/bin"
ln -s "$(command -v python3.11 || command -v python3)" "$scratch/bin/python"  # the image's python
export PATH="$scratch/bin:$PATH"

# Instructions one a line: comment lines dropped, continuation lines joined as Docker joins them.
instructions() {
    grep -v '^[[:space:]]*#' "$context/Dockerfile" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta'
}
in_image() {  # a path of the image -> the same path in the scratch directory
    case "$1" in /*) echo "$scratch$1" ;; *) echo "$1" ;; esac
}

while read -r keyword args; do
    case "$keyword" in
    FROM) [[ "$args" == *" AS build" ]] || break ;;
    ENV)
        eval "export $args"
        export VIRTUAL_ENV="$scratch/venv" PATH="$scratch/venv/bin:$PATH"
        ;;
    WORKDIR) mkdir -p "$(in_image "$args")" && cd "$(in_image "$args")" ;;
    COPY)
        read -ra paths <<<"$args"
        target="$(in_image "${paths[-1]}")"
        for source in "${paths[@]:0:${#paths[@]}-1}"; do cp -R "$context/$source" "$target"; done
        ;;
    RUN)
        echo "==> RUN ${args:0:100}"
        bash -euo pipefail -c "$args" </dev/null
        ;;
    esac
done < <(instructions)

mapfile -t command < <(
    instructions | sed -n 's/^CMD //p' | tail -1 | python -c 'import json, sys; print(*json.load(sys.stdin), sep="\n")'
)
echo "==> ${command[*]} --check-config"
SECRET_KEY=check-docker-only ENCRYPTION_KEYS="check:$(printf 'A%.0s' {1..43})" ALLOWED_HOSTS=localhost \
    DATABASE_URL="sqlite:///$scratch/db.sqlite3" "${command[@]}" --check-config </dev/null
echo "==> the Dockerfile's build steps and its CMD work"
