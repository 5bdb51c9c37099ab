"""The sandbox's HTTP side: two token endpoints, the two provisioning operations, and a page.

The API views are CSRF-exempt (machines call them with bearer tokens or
client credentials, never with a session) and answer JSON whatever they are
sent. Bodies are never logged: they carry client secrets and device passwords.
What provisioning and de-provisioning do (all or nothing, partial deletes) is
described in store.py; the order of checks of a P1 body in payload.py.
"""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db.models import Count, Prefetch
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt

from provisioning.sandbox import auth, faults, forms, oauth, payload, seed, storable, store
from provisioning.sandbox import knobs as knob_store
from provisioning.sandbox.errors import ApiError, bad_request, forbidden, json_response, unauthorized
from provisioning.sandbox.models import (
    BasicUser,
    DittoPolicy,
    DittoThing,
    Fault,
    HonoTenant,
    SandboxClient,
    ServiceInstance,
    Style,
)

MAX_API_BODY = 1024 * 1024
MAX_TOKEN_BODY = 64 * 1024
DEFAULT_LIFETIME = {Style.SUITE: 3599, Style.NEXEED: 300}
TOKEN_CONTENT_TYPE = "application/json;charset=UTF-8"


# Token endpoints (provisioning-api.md §4)


@csrf_exempt
def suite_token(request):
    """Bosch IoT Suite Auth (Hydra) style: POST /token."""
    return _token(request, Style.SUITE, tenant="")


@csrf_exempt
def nexeed_token(request, tenant):
    """Bosch Nexeed IAM (Keycloak-like) style.

    POST /iam/access-management/v1/tenants/<tenant>/openid-connect/token
    """
    return _token(request, Style.NEXEED, tenant=tenant)


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer."""

    def __init__(self, status, error, description, hint=None, *, basic=False, headers=None):
        super().__init__(description)
        self.status, self.error, self.description, self.hint = status, error, description, hint
        self.basic = basic
        self.headers = headers or {}

    def response(self, style):
        body = {"error": self.error, "error_description": self.description}
        if style == Style.SUITE:
            # Hydra (fosite) adds these two.
            body["error_hint"] = self.hint or self.description
            body["status_code"] = self.status
        response = _token_json(body, self.status)
        if self.basic and self.status == 401:
            response["WWW-Authenticate"] = 'Basic realm="sandbox"'
        for name, value in self.headers.items():
            response[name] = value
        return response


def _token_json(body, status=200):
    response = HttpResponse(json.dumps(body), status=status, content_type=TOKEN_CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def _token(request, style, tenant):
    knobs, fault = faults.before_request(Fault.Target.TOKEN)
    if fault is not None and fault.kind == Fault.Kind.RESET and faults.drop_connection(request):
        return faults.dropped_response()
    try:
        if fault is not None:
            _raise_token_fault(fault)
        response = _issue_token(request, style, tenant, knobs)
    except OAuthError as error:
        response = error.response(style)
    if fault is not None and fault.kind == Fault.Kind.GARBAGE:
        return faults.garbage(response.status_code)
    return response


def _raise_token_fault(fault):
    retry = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    if fault.kind == Fault.Kind.TOO_MANY:
        raise OAuthError(429, "too_many_requests", "Too many token requests; slow down.", headers=retry)
    if fault.kind == Fault.Kind.SERVER_ERROR:
        raise OAuthError(500, "server_error", "The authorization server hit an unexpected condition.")
    if fault.kind == Fault.Kind.UNAVAILABLE:
        raise OAuthError(
            503, "temporarily_unavailable", "The authorization server is unavailable.", headers=retry
        )
    if fault.kind == Fault.Kind.PAYMENT:
        raise OAuthError(402, "payment_required", "The service plan's limits are exceeded.")
    if fault.kind == Fault.Kind.UNAUTHORIZED:
        raise OAuthError(401, "invalid_client", "Client authentication failed.")


def _issue_token(request, style, tenant, knobs):
    if request.method != "POST":
        raise OAuthError(405, "invalid_request", "Use POST.", headers={"Allow": "POST"})
    if _content_length(request) > MAX_TOKEN_BODY:
        raise OAuthError(413, "invalid_request", "The request body is too large.")
    if request.content_type != "application/x-www-form-urlencoded":
        raise OAuthError(
            400, "invalid_request", "The request must be sent as application/x-www-form-urlencoded."
        )
    try:
        form = request.POST
    except (RequestDataTooBig, SuspiciousOperation):
        raise OAuthError(400, "invalid_request", "The request body could not be read.") from None
    repeated = sorted(key for key, values in form.lists() if len(values) > 1)
    if repeated:
        raise OAuthError(400, "invalid_request", f"The parameter '{repeated[0]}' may be given only once.")
    grant_type = form.get("grant_type", "")
    if not grant_type:
        raise OAuthError(400, "invalid_request", "The request is missing the 'grant_type' parameter.")
    client = _authenticate_client(request, form, style, tenant)
    if grant_type != "client_credentials":
        raise OAuthError(
            400,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
            "The client is not allowed to request a token with this grant type; use client_credentials.",
        )
    requested = list(dict.fromkeys(form.get("scope", "").split()))
    refused = [scope for scope in requested if scope not in client.allowed_scopes]
    if refused:
        raise OAuthError(
            400,
            "invalid_scope",
            "The requested scope is invalid, unknown, or malformed.",
            f"The OAuth 2.0 Client is not allowed to request scope '{refused[0]}'.",
        )
    audience = form.get("audience", "").split()
    if style == Style.NEXEED:
        audience += [scope.removeprefix("aud:") for scope in requested if scope.startswith("aud:")]
    lifetime = client.token_lifetime or knobs.token_lifetime or DEFAULT_LIFETIME[style]
    instances = list(client.instances.values_list("sid", flat=True)) if style == Style.NEXEED else ()
    scope = " ".join(requested)
    token = oauth.issue(
        client_id=client.client_id,
        style=style,
        scope=scope,
        audience=audience,
        now=knob_store.clock(knobs),
        lifetime=lifetime,
        serial=knob_store.next_token_serial(),
        instances=instances,
    )
    body = {"access_token": token, "expires_in": lifetime, "token_type": "bearer", "scope": scope}
    if style == Style.NEXEED:
        body.update(token_type="Bearer", refresh_expires_in=0)
        body["not-before-policy"] = 0
    return _token_json(body)


def _authenticate_client(request, form, style, tenant):
    """Find the client by HTTP Basic or by form fields; RFC 6749 §2.3.1 and §5.2."""
    basic = oauth.basic_credentials(request)
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if basic == "malformed":
        raise OAuthError(
            401,
            "invalid_client",
            "Client authentication failed.",
            "The HTTP Authorization header could not be decoded as client_id:client_secret.",
            basic=True,
        )
    if basic is not None:
        if form_secret is not None:
            raise OAuthError(
                400,
                "invalid_request",
                "The request uses more than one client authentication method.",
                "Send the client credentials either in the Authorization header or in the body, not both.",
            )
        if form_id is not None and form_id not in {candidate[0] for candidate in basic}:
            raise OAuthError(
                400, "invalid_request", "client_id in the body differs from the Authorization header."
            )
        candidates = basic
    elif form_id:
        candidates = [(form_id, form_secret or "")]
    else:
        raise OAuthError(
            400,
            "invalid_request",
            "The request is missing client credentials.",
            "Client credentials missing or malformed in both HTTP Authorization header and HTTP POST body.",
        )
    clients = {
        client.client_id: client
        for client in SandboxClient.objects.filter(
            client_id__in=[cid for cid, _ in candidates if storable.storable_text(cid)]
        )
    }
    for client_id, secret in candidates:
        client = clients.get(client_id)
        if client is not None and client.check_secret(secret):
            if client.style == style and client.tenant == tenant:
                return client
            break
    raise OAuthError(
        401,
        "invalid_client",
        "Client authentication failed (e.g., unknown client, no client authentication included, "
        "or unsupported authentication method).",
        "The client is unknown to this endpoint, or its secret is wrong.",
        basic=basic is not None,
    )


def _content_length(request):
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


# The provisioning API (provisioning-api.md §1.1, §7)


@csrf_exempt
def devices(request, sid):
    """POST /api/1/<sid>/devices: provision a device (P1)."""
    return _api(request, "POST", _provision, sid)


@csrf_exempt
def device(request, sid, device_id):
    """DELETE /api/1/<sid>/devices/<device-id>: de-provision a device (P2)."""
    return _api(request, "DELETE", _deprovision, sid, device_id)


@csrf_exempt
def api_not_found(request, prefix=None):
    return json_response(
        {
            "description": "There is no such API resource.",
            "errorDetails": {"status": 404, "path": request.path},
        },
        status=404,
    )


def _api(request, method, handler, sid, *args):
    """The steps every API request shares: knobs, faults, bearer token, service instance."""
    knobs, fault = faults.before_request(Fault.Target.API)
    if fault is not None and fault.kind == Fault.Kind.RESET and faults.drop_connection(request):
        return faults.dropped_response()
    try:
        if fault is not None:
            _raise_api_fault(fault)
        if request.method != method:
            raise ApiError(405, f"Use {method}.", "provisioning:method.notallowed", headers={"Allow": method})
        claims = _bearer_claims(request, knobs)
        instance = _instance_for(claims, sid)
        response = handler(request, instance, claims, *args)
    except ApiError as error:
        response = error.response()
    if fault is not None and fault.kind == Fault.Kind.GARBAGE:
        return faults.garbage(response.status_code)
    return response


def _raise_api_fault(fault):
    retry = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    if fault.kind == Fault.Kind.TOO_MANY:
        raise ApiError(
            429,
            "Too many requests.",
            "things:thing.toomanymodifyingrequests",
            detail="Throttle your modifying requests, then try again.",
            headers=retry,
        )
    if fault.kind == Fault.Kind.SERVER_ERROR:
        raise ApiError(500, "Internal server error.", "provisioning:internal.error")
    if fault.kind == Fault.Kind.UNAVAILABLE:
        raise ApiError(
            503, "The service is temporarily unavailable.", "provisioning:unavailable", headers=retry
        )
    if fault.kind == Fault.Kind.PAYMENT:
        raise ApiError(402, "Service plan limits are exceeded.", "provisioning:plan.limit")
    if fault.kind == Fault.Kind.UNAUTHORIZED:
        raise unauthorized("The JWT was rejected.")


def _bearer_claims(request, knobs):
    try:
        return oauth.verify(
            oauth.bearer_token(request),
            now=knob_store.clock(knobs),
            revoked_through=knobs.tokens_revoked_through,
        )
    except oauth.InvalidToken as error:
        raise unauthorized(str(error)) from None


def _instance_for(claims, sid):
    """The service instance, when it exists and the token covers it; else 403 (the same for both)."""
    if not storable.storable_text(sid) or not oauth.covers(claims, sid):
        raise forbidden(sid)
    instance = ServiceInstance.objects.filter(sid=sid).first()
    if instance is None:
        raise forbidden(sid)
    return instance


def _provision(request, instance, claims):
    if request.content_type != "application/json" and not request.content_type.endswith("+json"):
        raise ApiError(
            415,
            "The request body must be sent as application/json.",
            "provisioning:mediatype.unsupported",
        )
    if _content_length(request) > MAX_API_BODY:
        raise ApiError(413, "The request body is larger than 1 MB.", "provisioning:payload.toolarge")
    try:
        raw = request.body
    except (RequestDataTooBig, SuspiciousOperation):
        raise ApiError(413, "The request body is too large.", "provisioning:payload.toolarge") from None
    auth_scope = _query(request, "authScope")
    plan = payload.plan(
        storable.parse_json(raw),
        instance=instance,
        auth_scope=auth_scope,
        subject=f"iot-suite:{claims['sub']}",
    )
    store.provision(instance, plan)
    return json_response(payload.response_body(plan, instance), status=201)


def _deprovision(request, instance, claims, device_id):
    keep_credentials = _flag(request, "keepCredentials")
    keep_policy = _flag(request, "keepPolicy")
    if not storable.storable_text(device_id):
        raise ApiError(404, f"Device '{device_id}' is not provisioned.", "provisioning:resource.notfound")
    result = store.deprovision(
        instance, device_id, keep_credentials=keep_credentials, keep_policy=keep_policy
    )
    return json_response(result)


def _query(request, name):
    try:
        return request.GET.get(name, "")
    except SuspiciousOperation:
        raise bad_request("The query string could not be read.") from None


def _flag(request, name):
    value = _query(request, name).lower()
    if value in ("", "false"):
        return False
    if value == "true":
        return True
    raise bad_request(f"The query parameter '{name}' must be true or false.", field=name)


# The page


@login_required
def index(request):
    """Knobs, faults, counters, and what the sandbox knows. Anyone signed in may look; staff may change."""
    new_basic_user = None
    if request.method == "POST":
        if not (request.user.is_staff or request.user.is_superuser):
            raise PermissionDenied("Only staff may change the sandbox.")
        if request.POST.get("action") != "basic_user":
            return _change(request)
        # Answered here, not by a redirect: the new password is in this one page and nowhere else.
        form = forms.BasicUserForm(request.POST)
        if form.is_valid():
            new_basic_user = seed.create_basic_user(form.cleaned_data["username"])
        else:
            messages.error(request, "No password was set: " + _form_errors(form))
    current = knob_store.row()
    instances = ServiceInstance.objects.annotate(device_count=Count("devices")).order_by("created_at", "pk")
    clients = SandboxClient.objects.prefetch_related(
        Prefetch("instances", queryset=ServiceInstance.objects.only("sid", "label"))
    )
    # Where the dashboard's configurations reach the sandbox: `make run` serves its API from a
    # server of its own (SANDBOX_BASE_URL), not from the one that renders this page.
    base = settings.SANDBOX_BASE_URL.rstrip("/")
    context = {
        "knobs": current,
        "knobs_form": forms.KnobsForm(initial=knob_store.current()),
        "fault_form": forms.FaultForm(),
        "faults": Fault.objects.filter(remaining__gt=0).order_by("pk"),
        "instances": instances,
        "clients": clients,
        "can_change": request.user.is_staff or request.user.is_superuser,
        "suite_token_url": f"{base}/token",
        "nexeed_token_url": f"{base}/iam/access-management/v1/tenants/<tenant>/openid-connect/token",
        "api_base_url": f"{base}/api/1",
        "things_base_url": f"{base}/things",
        "hono_registry_url": f"{base}/v1",
        "ditto_api_url": f"{base}/api/2",
        "hono_tenants": HonoTenant.objects.annotate(device_count=Count("devices")).order_by("tenant_id"),
        "basic_users": BasicUser.objects.order_by("username").values_list("username", flat=True),
        "basic_user_form": forms.BasicUserForm(),
        "new_basic_user": new_basic_user,
        "ditto_counts": {"things": DittoThing.objects.count(), "policies": DittoPolicy.objects.count()},
        "subject_prefixes": {"basic": auth.BASIC_SUBJECT_PREFIX, "bearer": auth.BEARER_SUBJECT_PREFIX},
        "slow_default": settings.OUTBOUND_READ_TIMEOUT + 5,
    }
    return render(request, "sandbox/index.html", context)


def _change(request):
    action = request.POST.get("action")
    if action == "knobs":
        form = forms.KnobsForm(request.POST)
        if form.is_valid():
            knob_store.configure(**form.cleaned_data)
            messages.success(request, "Sandbox knobs saved.")
        else:
            messages.error(request, "The knobs were not saved: " + _form_errors(form))
    elif action == "fault":
        form = forms.FaultForm(request.POST)
        if form.is_valid():
            knob_store.inject_fault(**form.cleaned_data)
            messages.success(request, "Fault queued.")
        else:
            messages.error(request, "The fault was not queued: " + _form_errors(form))
    elif action == "clear_faults":
        knob_store.clear_faults()
        messages.success(request, "All queued faults were dropped.")
    elif action == "expire_tokens":
        knob_store.expire_tokens()
        messages.success(request, "Every token issued so far now counts as expired.")
    elif action == "reset_counters":
        knob_store.reset_counters()
        messages.success(request, "The token counter is back to zero.")
    else:
        messages.error(request, "Unknown action.")
    return redirect("sandbox:index")


def _form_errors(form):
    return "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
