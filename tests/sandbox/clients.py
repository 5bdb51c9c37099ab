"""Callers of the sandbox's Hono registry and Ditto over real HTTP; every answer is checked
against the API's OpenAPI document (tests/openapi_responses.py) before a test sees it."""

from urllib.parse import quote

import requests

from tests.openapi_responses import DITTO, HONO

TIMEOUT = 10


class _Client:
    document = None

    def __init__(self, base_url, auth=None, token=None):
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.token = token

    def with_auth(self, auth=None, token=None):
        return type(self)(self.base_url, auth=auth, token=token)

    def call(self, method, template, path, *, fault=False, headers=None, raw=None, timeout=TIMEOUT, **kwargs):
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        response = requests.request(
            method,
            f"{self.base_url}{path}",
            auth=self.auth,
            headers=headers,
            data=raw,
            timeout=timeout,
            allow_redirects=False,
            **kwargs,
        )
        self.document.check(response, method, template, fault=fault)
        return response


def _q(value):
    return quote(value, safe=":")


class Hono(_Client):
    """/v1 of the sandbox's Hono registry; paths as the spec's (servers: '{server}/v1')."""

    document = HONO

    def call(self, method, template, path, **kwargs):
        return super().call(method, template, f"/v1{path}", **kwargs)

    def tenant(self, method, tenant, **kwargs):
        return self.call(method, "/tenants/{tenantId}", f"/tenants/{_q(tenant)}", **kwargs)

    def devices(self, method, tenant, **kwargs):
        return self.call(method, "/devices/{tenantId}", f"/devices/{_q(tenant)}", **kwargs)

    def device(self, method, tenant, device_id, **kwargs):
        path = f"/devices/{_q(tenant)}/{_q(device_id)}"
        return self.call(method, "/devices/{tenantId}/{deviceId}", path, **kwargs)

    def credentials(self, method, tenant, device_id, **kwargs):
        path = f"/credentials/{_q(tenant)}/{_q(device_id)}"
        return self.call(method, "/credentials/{tenantId}/{deviceId}", path, **kwargs)


class Ditto(_Client):
    document = DITTO

    def thing(self, method, thing_id, **kwargs):
        return self.call(method, "/api/2/things/{thingId}", f"/api/2/things/{_q(thing_id)}", **kwargs)

    def policy(self, method, policy_id, **kwargs):
        return self.call(method, "/api/2/policies/{policyId}", f"/api/2/policies/{_q(policy_id)}", **kwargs)
