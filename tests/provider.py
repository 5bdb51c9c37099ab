"""A scripted provider for tests: token endpoint and provisioning API on a real HTTP server.

Built on pytest-httpserver; each helper registers what the server answers next.
"""

import json
import time

from werkzeug import Response

from tests import factories

SID = factories.SID


def make_config(team, httpserver, **overrides):
    """A configuration whose token endpoint and API are the scripted server."""
    fields = {
        "name": "Scripted",
        "preset": "custom",
        "token_url": httpserver.url_for("/token"),
        "client_id": "scripted-client",
        "scope": "service:iot-hub-prod:t0081_hub/full-access",
        "api_base_url": httpserver.url_for("/api/1"),
        "secret": "scripted-secret-value",
        **overrides,
    }
    return factories.make_config(team, **fields)


def token_body(access_token="tok-1", expires_in=3599, **extra):
    body = {"access_token": access_token, "token_type": "bearer", "scope": "s", **extra}
    if expires_in is not None:
        body["expires_in"] = expires_in
    return body


class TokenIssuer:
    """Answers every token request with a new token; counts requests."""

    def __init__(self, expires_in=3599, delay=0.0):
        self.count = 0
        self.expires_in = expires_in
        self.delay = delay

    def __call__(self, request):
        self.count += 1
        if self.delay:
            time.sleep(self.delay)
        return Response(
            json.dumps(token_body(f"tok-{self.count}", self.expires_in)),
            status=200,
            content_type="application/json",
        )


def api_requests(httpserver, method="POST"):
    return [req for req, _ in httpserver.log if req.path.startswith("/api/1/") and req.method == method]


def token_requests(httpserver):
    return [req for req, _ in httpserver.log if req.path == "/token"]
