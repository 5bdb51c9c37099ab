#!/usr/bin/env bash
# make test: make sure the browser tests have what they need, then get out of the way.
#
#   1. Debian's Chromium at /usr/bin/chromium (Playwright's own `playwright install` cannot
#      download browsers here). Installed with apt-get when missing and we are root.
#   2. axe-core (accessibility checks) and oauth2-mock-server (the OpenID Connect provider of the
#      sign-in tests) in node_modules/, from package-lock.json via `npm ci`.
#
# Quick and silent when all are present. Never fails: when something cannot be installed it
# says why, and the e2e tests skip with a reason (or fail, when CI is set).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 0

CHROMIUM=/usr/bin/chromium
# Chromium itself, plus fonts so screenshots show text (--no-install-recommends drops them).
PACKAGES=(chromium fonts-dejavu-core fonts-liberation)

say() { echo "ensure-browser: $*" >&2; }

ensure_chromium() {
  if [ -x "$CHROMIUM" ]; then
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "$CHROMIUM is missing and apt-get is not available; install Chromium to run the e2e tests."
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    say "$CHROMIUM is missing; as root run: apt-get update && apt-get install -y --no-install-recommends ${PACKAGES[*]}"
    return 0
  fi
  say "installing Debian's Chromium (${PACKAGES[*]})..."
  if ! DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null; then
    say "apt-get update failed; the e2e tests will be skipped."
    return 0
  fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null; then
    say "apt-get install ${PACKAGES[*]} failed; the e2e tests will be skipped."
    return 0
  fi
  say "installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
}

ensure_node_modules() {
  if [ -f node_modules/axe-core/axe.min.js ] && [ -f node_modules/oauth2-mock-server/package.json ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    say "node_modules/ lacks axe-core or oauth2-mock-server and npm is not available;" \
      "accessibility checks and the OpenID Connect tests will be skipped."
    return 0
  fi
  say "installing axe-core and oauth2-mock-server (npm ci)..."
  if ! npm ci --no-audit --no-fund --loglevel=error >/dev/null; then
    say "npm ci failed; accessibility checks and the OpenID Connect tests will be skipped."
  fi
}

ensure_chromium
ensure_node_modules
exit 0
