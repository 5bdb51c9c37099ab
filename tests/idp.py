"""A real OpenID Connect provider for the tests: npm's oauth2-mock-server, run by node on loopback.

tests/oidc_provider.mjs starts it with a control server beside it (see there). The fixtures in
tests/conftest.py start it once per run and point the settings at it per test. Without node or
without node_modules/oauth2-mock-server (scripts/ensure-browser.sh installs it) the tests that need
it are skipped with the reason; with CI set they fail instead, as the browser tests do.
"""

import contextlib
import copy
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "oidc_provider.mjs"
PACKAGE = ROOT / "node_modules" / "oauth2-mock-server"
CLIENT_ID = "provisioner-tests"
CLIENT_SECRET = "oidc-client-secret-for-tests"
START_SECONDS = 20


def unavailable(reason):
    """Skip, or fail when CI is set (where the provider must be there)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


class Provider:
    """The running provider: its issuer URL, and its control server."""

    def __init__(self, issuer, control):
        self.issuer = issuer
        self.control = control

    def set_claims(self, **claims):
        """Claims merged into the next ID tokens (None removes one); the defaults again when empty."""
        requests.put(f"{self.control}/claims", data=json.dumps(claims), timeout=5).raise_for_status()

    def last(self):
        """What the token endpoint last answered (``id_token``) and was sent (``authorization``)."""
        response = requests.get(f"{self.control}/last", timeout=5)
        response.raise_for_status()
        return response.json()

    def authorize(self, url):
        """Follow the provider's authorization URL as a browser would; the callback's path and query."""
        response = requests.get(url, allow_redirects=False, timeout=5)
        assert response.status_code == 302, (response.status_code, response.text[:500])
        parts = urlsplit(response.headers["Location"])
        return f"{parts.path}?{parts.query}"


@contextlib.contextmanager
def running_provider():
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed: the OpenID Connect tests need it for oauth2-mock-server")
    if not PACKAGE.is_dir():
        unavailable(f"{PACKAGE.relative_to(ROOT)} is missing (npm ci, or run scripts/ensure-browser.sh)")
    process = subprocess.Popen(
        [node, str(SCRIPT)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # The first line names the URLs; a provider that cannot start closes stdout instead.
        timer = threading.Timer(START_SECONDS, process.kill)
        timer.start()
        line = process.stdout.readline()
        timer.cancel()
        if not line:
            pytest.fail(f"oauth2-mock-server did not start: {process.stderr.read()[-2000:]}", pytrace=False)
        urls = json.loads(line)
        yield Provider(urls["issuer"], urls["control"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def configure(settings, provider, **overrides):
    """Point the settings at ``provider``: OIDC on, as the four environment variables would turn it."""
    settings.OIDC_ENABLED = True
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_PROVIDER_NAME = "Mock IdP"
    # As config/settings.py does with OIDC_ISSUER set: sign-out's redirect to the provider is allowed.
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    parts = urlsplit(provider.issuer)
    policy["DIRECTIVES"]["form-action"].append(f"{parts.scheme}://{parts.netloc}")
    settings.CONTENT_SECURITY_POLICY = policy
    for name, value in overrides.items():
        setattr(settings, name, value)
