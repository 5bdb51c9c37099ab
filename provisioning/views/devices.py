"""The device builder: one page, an HTMX live preview, Send, and the show-once result."""

import base64
import json
import shlex
import uuid

from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.cache import cache
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from provisioning import client, ids, services
from provisioning.access import PROVISIONERS, get_membership
from provisioning.device_form import GENERATED, MASK, DeviceForm
from provisioning.models import AuditEvent

FORM_TOKEN_SALT = "provisioning.device-form"
FORM_TOKEN_TTL = 24 * 3600


def new_form_token(user):
    return signing.dumps({"u": user.pk, "n": uuid.uuid4().hex}, salt=FORM_TOKEN_SALT)


def claim_form_token(user, token):
    """Claim a one-time form token. Returns (ok, previous correlation id or None).

    ``cache.add`` is atomic in every process, so of two submits of the same form
    (a double click, back and resubmit) exactly one proceeds.
    """
    try:
        payload = signing.loads(token or "", salt=FORM_TOKEN_SALT, max_age=FORM_TOKEN_TTL)
    except signing.BadSignature:
        return False, None
    if payload.get("u") != user.pk:
        return False, None
    key = f"form-token:{payload['n']}"
    if cache.add(key, "", FORM_TOKEN_TTL):
        return True, key
    return False, cache.get(key) or None


def masked(body):
    """The body with every typed secret masked; generated placeholders stay as they are."""
    copy = json.loads(json.dumps(body))
    credentials = copy["hub"].get("credentials")
    if credentials:
        for secret in credentials.get("secrets", []):
            for field in ("password", "passwordBase64", "key"):
                if field in secret and secret[field] != GENERATED:
                    secret[field] = MASK
    return copy


def request_preview(form):
    """Method, URL, headers and body of what Send would do, with every secret masked."""
    config = form.cleaned_data["client"]
    auth_scope = form.effective_auth_scope()
    url = client.devices_url(config)
    if auth_scope:
        url = f"{url}?authScope={auth_scope}"
    body = masked(form.to_body())
    text = json.dumps(body, indent=2, ensure_ascii=False)
    headers = {
        "Authorization": "Bearer <token from the client configuration>",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    curl = " \\\n  ".join(
        ["curl -X POST " + shlex.quote(url)]
        + [f"-H {shlex.quote(f'{k}: {v}')}" for k, v in headers.items()]
        + ["--data-raw " + shlex.quote(json.dumps(body, ensure_ascii=False))]
    )
    return {
        "method": "POST",
        "url": url,
        "headers": headers,
        "body": text,
        "curl": curl,
        "device_id": body["id"],
        "id_length": len(body["id"]),
    }


def _initial(membership):
    team = membership.team
    initial = {"credentials_type": "hashed-password", "enabled": True, "policy_mode": "generated"}
    first_client = team.clients.first()
    if first_client:
        initial["client"] = first_client.pk
        namespace = team.namespaces.filter(client__in=[first_client]).first() or team.namespaces.first()
        if namespace:
            initial["namespace"] = namespace.pk
    return initial


def _edit_attribute_rows(request, form):
    """Apply the add/remove buttons of the attribute rows (with or without JavaScript)."""
    action = request.POST.get("action", "")
    rows = list(form.attribute_rows)
    if action == "add-attr":
        rows.append(("", ""))
    elif action.startswith("remove-attr:"):
        try:
            index = int(action.split(":", 1)[1])
        except ValueError:
            index = -1
        if 0 <= index < len(rows):
            del rows[index]
    form.attribute_rows = rows or [("", "")]


def created_history_entry(team, device_id):
    """The outcome row of the attempt that created ``device_id`` in this team, if any."""
    return (
        AuditEvent.objects.filter(
            team_id=team.pk,
            action="device.provision",
            phase=AuditEvent.Phase.OUTCOME,
            status="created",
            target=device_id,
        )
        .order_by("-created_at", "-id")
        .first()
    )


def connection_settings(outcome, device_id, secret_kind, secret):
    """What a device needs to connect, from the 201 body (the secret itself passed separately)."""
    hub = outcome.body.get("hub") or {}
    credentials = hub.get("credentials") or {}
    thing = (outcome.body.get("things") or {}).get("thing") or {}
    tenant = credentials.get("tenantId", "")
    auth_id = credentials.get("authId") or ids.default_auth_id(device_id)
    settings = {
        "deviceId": (hub.get("device") or {}).get("deviceId", device_id),
        "thingId": thing.get("thingId", device_id),
        "policyId": thing.get("policyId", device_id),
        "hubTenantId": tenant,
        "authId": auth_id if credentials else "",
        "username": f"{auth_id}@{tenant}" if credentials and tenant else "",
        "adapters": [
            {"type": a.get("type"), "uri": a.get("uri")}
            for a in credentials.get("adapters") or []
            if isinstance(a, dict)
        ],
    }
    if secret and secret_kind == "hashed-password":
        settings["password"] = secret
    elif secret and secret_kind == "psk":
        settings["pskKey"] = secret
    return settings


@login_required
@never_cache
@sensitive_post_parameters("password", "psk_key")
@require_http_methods(["GET", "POST"])
def device_new(request, team_slug):
    membership = get_membership(request, team_slug, PROVISIONERS)
    team = membership.team
    ctx = {"membership": membership}
    if request.method == "GET":
        form = DeviceForm(initial=_initial(membership), team=team)
        form.attribute_rows = form.attribute_rows or [("", "")]
        ctx.update(form=form, form_token=new_form_token(request.user), preview=None)
        return render(request, "provisioning/device_new.html", ctx)

    form = DeviceForm(request.POST, team=team)
    action = request.POST.get("action", "preview")
    valid = form.is_valid()
    ctx.update(form=form, form_token=request.POST.get("form_token") or new_form_token(request.user))
    if action == "add-attr" or action.startswith("remove-attr:"):
        _edit_attribute_rows(request, form)
        template = (
            "provisioning/device_new.html#attributes" if request.htmx else "provisioning/device_new.html"
        )
        ctx["preview"] = request_preview(form) if valid else None
        return render(request, template, ctx)
    if action != "send" or not valid:
        form.attribute_rows = form.attribute_rows or [("", "")]
        ctx["preview"] = request_preview(form) if valid else None
        if request.htmx and action == "preview":
            return render(request, "provisioning/device_new.html#device-preview", ctx)
        status = 200 if action != "send" else 400
        return render(request, "provisioning/device_new.html", ctx, status=status)

    claimed, previous = claim_form_token(request.user, request.POST.get("form_token"))
    if not claimed:
        ctx.update(
            form_token=new_form_token(request.user),
            preview=request_preview(form),
            duplicate=True,
            previous=previous,
        )
        return render(request, "provisioning/device_new.html", ctx, status=409)

    config = form.cleaned_data["client"]
    secret_kind = form.cleaned_data["credentials_type"]
    generated = form.new_secret() if form.needs_generated_secret() else None
    body = form.to_body(generated_secret=generated)
    try:
        outcome = services.provision_device(
            actor=request.user, team=team, config=config, body=body, auth_scope=form.effective_auth_scope()
        )
    except services.AuditUnavailable as exc:
        cache.delete(previous)  # nothing was sent: the same form may be sent again
        ctx.update(preview=request_preview(form), failure=str(exc))
        return render(request, "provisioning/device_new.html", ctx, status=503)
    cache.set(previous, str(outcome.correlation_id), FORM_TOKEN_TTL)

    device_id = body["id"]
    ctx.update(outcome=outcome, device_id=device_id, config=config)
    if outcome.ok:
        secret = None
        if secret_kind == "hashed-password":
            secret = body["hub"]["credentials"]["secrets"][0]["password"]
        elif secret_kind == "psk":
            secret = body["hub"]["credentials"]["secrets"][0]["key"]
        settings = connection_settings(outcome, device_id, secret_kind, secret)
        download = base64.b64encode(json.dumps(settings, indent=2).encode()).decode()
        ctx.update(
            settings=settings,
            secret=secret,
            secret_kind=secret_kind,
            generated=generated is not None,
            download_href=f"data:application/json;base64,{download}",
            download_name=f"{device_id.replace(':', '_')}.json",
        )
        response = render(request, "provisioning/device_result.html", ctx, status=201)
        response["Cache-Control"] = "no-store"
        return response
    if outcome.status == "conflict":
        ctx["existing"] = created_history_entry(team, device_id)
    ctx.update(form_token=new_form_token(request.user), preview=request_preview(form))
    return render(request, "provisioning/device_new.html", ctx, status=200)
