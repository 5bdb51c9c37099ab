"""The error envelope of the simulated provisioning API.

Every error answer is ``{"description": ..., "errorDetails": {...}}`` (the
spec's Provisioning400ErrorPayload), with ``errorDetails`` shaped like the
Things ``AdvancedError`` (status, error, message, description): provisioning-api.md
§5.1 and §5.3. Clients should branch on the status code only.
"""

import json

from django.http import HttpResponse

JSON = "application/json"


def json_response(body, status=200, headers=None):
    response = HttpResponse(json.dumps(body), status=status, content_type=JSON)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class ApiError(Exception):
    """An answer other than success; raised anywhere below a view, turned into JSON by it."""

    def __init__(self, status, description, error, message=None, *, detail=None, headers=None, **extra):
        super().__init__(description)
        self.status = status
        self.description = description
        self.details = {"status": status, "error": error, "message": message or description}
        if detail:
            self.details["description"] = detail
        self.details.update(extra)
        self.headers = headers or {}

    def response(self):
        body = {"description": self.description, "errorDetails": self.details}
        return json_response(body, status=self.status, headers=self.headers)


def bad_request(description, error="provisioning:payload.invalid", message=None, **kwargs):
    return ApiError(400, description, error, message, **kwargs)


def unauthorized(message):
    return ApiError(
        401,
        "The request does not contain valid credentials.",
        "gateway:authentication.failed",
        message,
        detail="Check if your credentials were correct.",
        headers={"WWW-Authenticate": 'Bearer realm="sandbox", error="invalid_token"'},
    )


def forbidden(sid):
    return ApiError(
        403,
        "Insufficient permissions.",
        "provisioning:serviceinstance.forbidden",
        f"The access token does not grant access to the service instance '{sid}'.",
        detail="Request a token with the service instance's Hub and Things scopes.",
    )


def not_found(description, message=None):
    return ApiError(404, description, "provisioning:resource.notfound", message)
