"""Every way the provider can fail one Send, as one table, through the operator's device builder.

Each case scripts the scripted provider (pytest-httpserver, real HTTP): what the token
endpoint answers, and what the provisioning API answers to each POST in turn. The
operator loads the device page (for its one-time form token) and presses Send. Then:

- the page says what happened in plain words (the case's words), with no stack trace,
  and the view answers 201 for a created device, 200 for anything else (never a 500);
- the attempt has one intent row and exactly one outcome row, with the case's status
  (created, conflict, refused, failed or unknown) and HTTP status, and nothing is left open;
- the provider received exactly the case's number of POSTs: one, two only where the first
  was refused before acting (a 401 then a fresh token, a 429 with Retry-After), none
  when no token was had; never two that could each have created the device.

Timeouts: settings.OUTBOUND_CONNECT_TIMEOUT and OUTBOUND_READ_TIMEOUT (5 s and 30 s by
default, from the environment), used by provisioning.http.timeouts() for the token
request and the API call alike. The tests set the read timeout to READ_TIMEOUT.
"""

import json
import re
import socket
import time
from dataclasses import dataclass, field

import pytest
from werkzeug import Response

from provisioning.models import AuditEvent, Namespace, OpenAttempt
from tests.provider import SID, TokenIssuer, api_requests, make_config, token_requests
from tests.workflow import NAMESPACE, send, text

pytestmark = pytest.mark.django_db

DEVICES = f"/api/1/{SID}/devices"
DEVICE_ID = f"{NAMESPACE}:boiler-0042"
TYPED = "Fault-Matrix-Pw-4417"
READ_TIMEOUT = 0.8  # seconds
TOO_SLOW = READ_TIMEOUT + 0.5
SLOW_BUT_IN_TIME = 0.2


# --- what the scripted provider answers ----------------------------------------------------


def json_answer(status, body, **headers):
    def answer(request):
        return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)

    return answer


def created(request):
    """201 with the body sent, password included, as Bosch answers."""
    body = json.loads(request.data)
    body["hub"]["device"]["deviceId"] = body["id"]
    body["hub"]["credentials"].update(tenantId="t-scripted", deviceId=body["id"])
    body["things"]["thing"].update(thingId=body["id"], policyId=body["id"])
    return Response(json.dumps(body), status=201, content_type="application/json")


def slow(seconds, then):
    def answer(request):
        time.sleep(seconds)
        return then(request)

    return answer


def reset(request):
    """The server drops the connection without answering."""
    request.environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
    return Response(status=204)  # written to a closed socket: nobody reads it


def not_json(request):
    return Response("<html><body>Gateway says hello</body></html>", status=200, content_type="text/html")


class Script:
    """Answers requests with ``answers`` in turn; the last one keeps answering."""

    def __init__(self, *answers):
        self.answers = answers
        self.calls = 0

    def __call__(self, request):
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return answer(request)


OAUTH_INVALID_CLIENT = {"error": "invalid_client", "error_description": "Client authentication failed."}
REFUSED_400 = {
    "description": "The thing's definition is not a valid identifier.",
    "errorDetails": {"status": 400, "error": "things:definition.identifier.invalid"},
}
FORBIDDEN = {"description": "Insufficient permissions for service instance.", "errorDetails": {"status": 403}}
CONFLICT = {
    "description": f"Device '{DEVICE_ID}' has already been provisioned.",
    "errorDetails": {"status": 409, "error": "things:thing.conflict"},
}
BUSY = {"description": "Too many requests.", "errorDetails": {"status": 429}}


# --- the table ------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    token: tuple | None  # the token endpoint's answers in turn; None: a new token each time
    api: tuple  # the API's answers to each POST in turn
    status: str  # the outcome row's status
    http_status: int | None
    posts: int  # POSTs the provider received
    tokens: int  # token requests it received
    words: list = field(default_factory=list)  # on the page, in this order of importance
    slow_request: bool = False  # the server is still busy after the client gave up


CASES = [
    Case(
        "token endpoint 500",
        token=(json_answer(500, {"error": "server_error"}),),
        api=(created,),
        status="failed",
        http_status=500,
        posts=0,
        tokens=1,
        words=[
            "Not sent to the provider",
            "token endpoint is unavailable (HTTP 500)",
            "Step that failed: the token request to http://",
            "Try again in a few minutes",
        ],
    ),
    Case(
        "token endpoint timeout",
        token=(slow(TOO_SLOW, json_answer(200, {"access_token": "late", "expires_in": 60})),),
        api=(created,),
        status="failed",
        http_status=None,
        posts=0,
        tokens=1,
        words=["Not sent to the provider", "token endpoint is unavailable: it did not answer in time"],
        slow_request=True,
    ),
    Case(
        "token endpoint answers something that is not JSON",
        token=(not_json,),
        api=(created,),
        status="failed",
        http_status=200,
        posts=0,
        tokens=1,
        words=["Not sent to the provider", "not a JSON object", "Check the token URL"],
    ),
    Case(
        "token endpoint 400 invalid_client",
        token=(json_answer(400, OAUTH_INVALID_CLIENT),),
        api=(created,),
        status="failed",
        http_status=None,
        posts=0,
        tokens=1,
        words=["Not sent to the provider", "refused the client id or secret", "Test connection"],
    ),
    Case(
        "token endpoint 401 invalid_client",
        token=(json_answer(401, OAUTH_INVALID_CLIENT),),
        api=(created,),
        status="failed",
        http_status=None,
        posts=0,
        tokens=1,
        words=["Not sent to the provider", "refused the client id or secret", "Test connection"],
    ),
    Case(
        "API 401 once, then a fresh token succeeds",
        token=None,
        api=(json_answer(401, {"description": "The JWT has expired."}), created),
        status="created",
        http_status=201,
        posts=2,
        tokens=2,
        words=["shown once", DEVICE_ID],
    ),
    Case(
        "API 401 always",
        token=None,
        api=(json_answer(401, {"description": "The JWT was rejected."}),),
        status="refused",
        http_status=401,
        posts=2,
        tokens=2,
        words=["refused a freshly fetched token", "check the client's service scopes"],
    ),
    Case(
        "API 400",
        token=None,
        api=(json_answer(400, REFUSED_400),),
        status="refused",
        http_status=400,
        posts=1,
        tokens=1,
        words=[
            "The provider refused the device (HTTP 400)",
            "not a valid identifier",
            "Fix what the provider",
        ],
    ),
    Case(
        "API 403",
        token=None,
        api=(json_answer(403, FORBIDDEN),),
        status="refused",
        http_status=403,
        posts=1,
        tokens=1,
        words=["(HTTP 403)", "Insufficient permissions", "check the client's service scopes"],
    ),
    Case(
        "API 409",
        token=None,
        api=(json_answer(409, CONFLICT),),
        status="conflict",
        http_status=409,
        posts=1,
        tokens=1,
        words=["Already provisioned (HTTP 409)", "already been provisioned", "Search the history for it"],
    ),
    Case(
        "API 429 with Retry-After, then created",
        token=None,
        api=(json_answer(429, BUSY, **{"Retry-After": "0"}), created),
        status="created",
        http_status=201,
        posts=2,
        tokens=1,
        words=["shown once", DEVICE_ID],
    ),
    Case(
        # Every POST was refused before acting: four of them create nothing twice.
        "API 429 with Retry-After that persists",
        token=None,
        api=(json_answer(429, BUSY, **{"Retry-After": "0"}),),
        status="failed",
        http_status=429,
        posts=4,
        tokens=1,
        words=[
            "Nothing was created (HTTP 429)",
            "busy (HTTP 429); nothing was created",
            "Try again in a moment",
        ],
    ),
    Case(
        "API 429 without Retry-After",
        token=None,
        api=(json_answer(429, BUSY),),
        status="failed",
        http_status=429,
        posts=1,
        tokens=1,
        words=["Nothing was created (HTTP 429)", "Try again in a moment"],
    ),
    Case(
        "API 500",
        token=None,
        api=(json_answer(500, {"description": "Internal server error."}),),
        status="unknown",
        http_status=500,
        posts=1,
        tokens=1,
        words=["Outcome unknown (HTTP 500)", "check whether the device exists before retrying"],
    ),
    Case(
        "API 503 without Retry-After",
        token=None,
        api=(json_answer(503, {"description": "The service is temporarily unavailable."}),),
        status="unknown",
        http_status=503,
        posts=1,
        tokens=1,
        words=["Outcome unknown (HTTP 503)", "check whether the device exists before retrying"],
    ),
    Case(
        "API read timeout",
        token=None,
        api=(slow(TOO_SLOW, created),),
        status="unknown",
        http_status=None,
        posts=1,
        tokens=1,
        words=[
            "Outcome unknown",
            "did not answer in time",
            "check whether the device exists before retrying",
        ],
        slow_request=True,
    ),
    Case(
        "API connection reset",
        token=None,
        api=(reset,),
        status="unknown",
        http_status=None,
        posts=1,
        tokens=1,
        words=["Outcome unknown", "broke before an answer came", "check whether the device exists"],
    ),
    Case(
        "API slow but within the timeout",
        token=None,
        api=(slow(SLOW_BUT_IN_TIME, created),),
        status="created",
        http_status=201,
        posts=1,
        tokens=1,
        words=["shown once", DEVICE_ID],
    ),
]

STACK_TRACE = re.compile(r"Traceback \(most recent call last\)|File \"/|\bat 0x[0-9a-f]+|Exception\b")


@pytest.fixture
def fast_timeouts(settings):
    settings.OUTBOUND_READ_TIMEOUT = READ_TIMEOUT
    settings.OUTBOUND_CONNECT_TIMEOUT = READ_TIMEOUT


def wait_for_log(httpserver, count, path):
    """A slow handler is logged when it returns, after the client gave up."""
    deadline = time.monotonic() + TOO_SLOW + 5
    while sum(1 for request, _ in httpserver.log if request.path == path) < count:
        assert time.monotonic() < deadline, f"the provider never finished a request to {path}"
        time.sleep(0.05)


def test_the_table_covers_every_kind_of_final_state():
    assert {case.status for case in CASES} == {"created", "conflict", "refused", "failed", "unknown"}
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_fault_gives_one_clear_final_state_and_no_duplicate(
    case, as_user, cast, team_a, httpserver, fast_timeouts
):
    tokens = TokenIssuer() if case.token is None else Script(*case.token)
    httpserver.expect_request("/token", method="POST").respond_with_handler(tokens)
    httpserver.expect_request(DEVICES, method="POST").respond_with_handler(Script(*case.api))
    config = make_config(team_a, httpserver)
    namespace = Namespace.objects.create(team=team_a, name=NAMESPACE)

    response = send(as_user(cast["operator"]), config, namespace, password=TYPED)

    if case.slow_request:
        wait_for_log(httpserver, 1, "/token" if case.posts == 0 else DEVICES)
    page = text(response)
    # What the operator sees.
    assert response.status_code == (201 if case.status == "created" else 200)
    for words in case.words:
        assert words in page, f"{words!r} is not on the page"
    assert not STACK_TRACE.search(page)
    # One attempt, one final state.
    (intent,) = AuditEvent.objects.filter(action="device.provision", phase=AuditEvent.Phase.INTENT)
    (outcome,) = AuditEvent.objects.filter(action="device.provision", phase=AuditEvent.Phase.OUTCOME)
    assert (outcome.status, outcome.http_status) == (case.status, case.http_status)
    assert outcome.correlation_id == intent.correlation_id
    assert intent.target == outcome.target == DEVICE_ID
    assert not OpenAttempt.objects.exists()
    if case.status != "created":
        assert outcome.message and outcome.message in page  # the page and history say the same
        assert TYPED not in page  # a typed password is shown only after a 201
        # Which step failed, and the URL it tried: no POST means the token request failed.
        step = (
            f"the token request to {config.token_url}"
            if case.posts == 0
            else f"the API request to {httpserver.url_for(DEVICES)}"
        )
        assert f"Step that failed: {step}." in page
    else:
        assert page.count(TYPED) == 1  # the show-once panel
    # What the provider received.
    assert len(api_requests(httpserver)) == case.posts
    assert len(token_requests(httpserver)) == case.tokens
