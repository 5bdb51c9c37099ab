"""The device builder: one page, an HTMX live preview, Send, and the show-once result."""

import base64
import dataclasses
import json
import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from provisioning import api, crypto, held_results, history, hono_ditto_builder, services, template_use
from provisioning.access import PROVISIONERS, get_membership
from provisioning.device_form import initial_from_device
from provisioning.models import AuditEvent, OpenAttempt
from provisioning.providers import bosch
from provisioning.template_use import BuilderForm

FORM_TOKEN_SALT = "provisioning.device-form"
FORM_TOKEN_TTL = 24 * 3600


class ShownOnce(str):
    """A secret handed to a template: rendered as itself, masked in any repr.

    Django logs a failed variable lookup (logger "django.template", DEBUG) with a repr of
    the whole template context; a plain str secret in the context would be written to the
    log whenever that logger is at DEBUG.
    """

    __slots__ = ()

    def __repr__(self):
        return "'[shown once]'"


def _shown(value):
    return ShownOnce(value) if value else value


def new_form_token(user):
    return signing.dumps({"u": user.pk, "n": uuid.uuid4().hex}, salt=FORM_TOKEN_SALT)


def form_token_attempt(user, token):
    """The correlation id that the one-time form token ``token`` stands for, or None.

    Each form carries a fresh signed token; the attempt a Send of it begins takes the
    token's nonce as its correlation id. The audit log holds one intent per correlation
    id (a database constraint), so of two submits of the same form (a double click, back
    and resubmit) exactly one is sent, in every process, and the other can point at the
    first one's history at once. None for a token that is forged, expired or another user's.
    """
    try:
        payload = signing.loads(token or "", salt=FORM_TOKEN_SALT, max_age=FORM_TOKEN_TTL)
        nonce = uuid.UUID(hex=payload["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    return nonce if payload.get("u") == user.pk else None


def request_preview(form):
    """What Send would do with the valid ``form``, secrets masked."""
    data = form.cleaned_data
    if not data["config"].is_bosch:
        return hono_ditto_builder.request_preview(form)
    return bosch.request_preview(data["config"], form.to_body(), auth_scope=form.effective_auth_scope())


def _initial(membership, kind=None):
    """A new form's values: the first connection (of ``kind``, a template's, when it has one)."""
    team = membership.team
    initial = {"credentials_type": "hashed-password", "enabled": True, "policy_mode": "generated"}
    first_config = (kind and team.configs.filter(kind=kind).first()) or team.configs.first()
    if first_config:
        initial["config"] = first_config.pk
        namespace = team.namespaces.filter(client__in=[first_config]).first() or team.namespaces.first()
        if namespace:
            initial["namespace"] = namespace.pk
    return initial


def _unknown_attempt(team, value):
    """The intent row of the attempt with correlation id ``value`` when it is ``team``'s
    provisioning attempt whose outcome is unknown (to send it again), else None. One that a
    Send again or a check settled already is not sent again: resumed from its own steps, it would take
    the later attempt's work for somebody else's and undo it."""
    try:
        correlation_id = uuid.UUID(str(value))
    except ValueError:
        return None
    intent = history.unknown_attempt(team, correlation_id)
    if intent is None or history.settled(team, intent):
        return None
    return intent


def _send_again_initial(team, intent):
    """The builder's initial values to send the unknown attempt of ``intent`` again, or None.
    Never a secret: the intent row keeps none, so the operator types it again or one is made."""
    if history.is_multi_step(intent):
        device = hono_ditto_builder.device_from_intent(intent)
    else:
        device = bosch.device_from_request(intent.request)
    if device is None:
        return None
    initial = initial_from_device(device)
    namespace = team.namespaces.filter(name=initial.pop("namespace_name")).first()
    initial.update(config=intent.client_ref, namespace=namespace.pk if namespace else None)
    return initial


def _attempt_template(team, intent):
    """The template version the attempt of ``intent`` was made from, if it may still be used."""
    if intent is None or intent.template_ref is None:
        return None
    versions = template_use.usable_versions(team)
    return versions.filter(template_id=intent.template_ref, number=intent.template_version).first()


def _start_from_template(request, ctx, form):
    """The builder started again from the template chosen in "Start from a template" (or none):
    what the page showed stays, the fields the template sets take its values. An htmx request
    gets the builder's part of the page."""
    membership = ctx["membership"]
    version = template_use.latest_usable(membership.team, request.POST.get("template"))
    values = template_use.restart(template_use.current_values(form), version)
    kind = version.template.kind if version is not None else None
    chosen = str(values.get("config") or "")
    if kind and not (chosen.isdigit() and membership.team.configs.filter(pk=int(chosen), kind=kind).exists()):
        fitting = _initial(membership, kind)  # a connection the template is for
        values.update(config=fitting.get("config"), namespace=fitting.get("namespace"))
    started = BuilderForm(initial=values, team=membership.team, template=version)
    started.attribute_rows = started.attribute_rows or [("", "")]
    ctx.update(
        form=started, preview=None, restarted=True, **template_use.start_context(membership.team, version)
    )
    template = "provisioning/device_new.html#builder-area" if request.htmx else "provisioning/device_new.html"
    return render(request, template, ctx)


def _resolving(ctx, intent):
    """Put the unknown attempt of ``intent`` that this form sends again (or None) in ``ctx``;
    for a multi-step one, the steps it confirmed (not sent again) and the step Send starts from."""
    ctx["resolves"] = intent
    if intent is not None and history.is_multi_step(intent):
        ctx["resume"] = hono_ditto_builder.resume_point(intent)


def _resume_problem(form, intent):
    """Why the valid ``form`` cannot be the Send again of the unknown attempt of ``intent``, or ""."""
    config = form.cleaned_data["config"]
    if form.device_id != intent.target or config.pk != intent.client_ref:
        return (
            f"This form completes the attempt for {intent.target} through “{intent.client_name}”: "
            "keep that device id and connection. To provision another device, open a new form."
        )
    if history.is_multi_step(intent) and not config.is_bosch:
        return hono_ditto_builder.resume_problem(form, intent)
    return ""


def _edit_attribute_rows(request, form):
    """Apply the add/remove buttons of the attribute rows (with or without JavaScript).

    Returns where the keyboard focus goes next: the new row's key after "Add", the key of
    the row that moved into the removed one's place after "Remove", else the add button.
    """
    action = request.POST.get("action", "")
    rows = list(form.attribute_rows)
    focus = "add"
    if action == "add-attr":
        rows.append(("", ""))
        focus = len(rows) - 1
    elif action.startswith("remove-attr:"):
        try:
            index = int(action.split(":", 1)[1])
        except ValueError:
            index = -1
        if 0 <= index < len(rows):
            del rows[index]
            if index < len(rows):
                focus = index
    form.attribute_rows = rows or [("", "")]
    return focus


def device_history_entry(team, device_id):
    """The history entry to open for ``device_id`` after a 409, or None.

    The attempt that created it, else one whose outcome is unknown (it may have
    created it), else one that is still open (a crash between intent and outcome).
    """
    rows = AuditEvent.objects.filter(team_id=team.pk, action="device.provision", target=device_id).order_by(
        "-created_at", "-id"
    )
    outcomes = rows.filter(phase=AuditEvent.Phase.OUTCOME)
    return (
        outcomes.filter(status="created").first()
        or outcomes.filter(status="unknown").first()
        or rows.filter(
            phase=AuditEvent.Phase.INTENT,
            correlation_id__in=OpenAttempt.objects.filter(team_id=team.pk).values("correlation_id"),
        ).first()
    )


def _show_provider_error(form, outcome):
    """Put the provider's complaint next to the field it names (the summary has it too)."""
    field = bosch.provider_field(outcome.error.details if outcome.error else None)
    if field == "secret":
        field = {"hashed-password": "password", "psk": "psk_key"}.get(
            form.cleaned_data.get("credentials_type")
        )
    message = f"The provider refused this: {outcome.message}"
    if field == "attributes":
        return message
    if field in form.fields:
        form.add_error(field, message)
    return None


def _result_page(request, ctx, result):
    """The show-once page of a created device (``result`` as held_results keeps it)."""
    secret = _shown(result["secret"])
    settings_ = bosch.with_secret(result["settings"], result["secret_kind"], secret)
    device_id = settings_["deviceId"]
    download = base64.b64encode(json.dumps(settings_, indent=2).encode()).decode()
    ctx.update(
        device_id=device_id,
        settings=settings_,
        secret=secret,
        secret_kind=result["secret_kind"],
        generated=result["generated"],
        download_href=ShownOnce(f"data:application/json;base64,{download}"),
        download_name=f"{device_id.replace(':', '_')}.json",
    )
    response = render(request, "provisioning/device_result.html", ctx, status=201)
    response["Cache-Control"] = "no-store"
    return response


def second_submission_wait():
    """How long a second submission of a form waits for the first one's outcome: one request's
    connection and read timeouts and the Retry-After waits. A Send that takes longer still (a
    retry that times out too) is answered as "still being sent", with a link to its history."""
    return settings.OUTBOUND_CONNECT_TIMEOUT + settings.OUTBOUND_READ_TIMEOUT + api.MAX_TOTAL_WAIT


def _second_submission(request, ctx, form, correlation_id):
    """A form sent again (a double click, a re-post): nothing is sent. The answer is the first
    submission's: its result with the device's secret, if it is held for this user, else
    what happened to it, with a link to its history."""
    first = held_results.wait_for_outcome(ctx["membership"].team, correlation_id, second_submission_wait())
    held = held_results.claim(correlation_id, request.user) if first is not None else None
    if held and held["kind"] == "created":
        ctx.update(
            outcome={"correlation_id": correlation_id, "latency_ms": first.latency_ms},
            config=form.cleaned_data["config"],
            resubmitted=True,
        )
        return _result_page(request, ctx, held)
    ctx.update(
        form_token=new_form_token(request.user),
        preview=request_preview(form),
        duplicate=True,
        previous=correlation_id,
        first_outcome=first,
    )
    if held:  # the outcome was unknown, with a generated secret the device may have now
        ctx.update(maybe_secret=_shown(held["secret"]), secret_kind=held["secret_kind"])
    response = render(request, "provisioning/device_new.html", ctx, status=409)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@never_cache
@sensitive_post_parameters("password", "psk_key")
@require_http_methods(["GET", "POST"])
def device_new(request, team_slug):
    membership = get_membership(request, team_slug, PROVISIONERS)
    team = membership.team
    ctx = {"membership": membership}
    if request.method == "GET":
        again = _unknown_attempt(team, request.GET["again"]) if "again" in request.GET else None
        initial = _send_again_initial(team, again) if again else None
        # Send again starts from the template the attempt was made from; a new form from the one
        # chosen in "Start from a template" (?template=), or none.
        version = _attempt_template(team, again) if initial else None
        if not initial:
            version = template_use.latest_usable(team, request.GET.get("template"))
            kind = version.template.kind if version is not None else None
            initial = template_use.restart(_initial(membership, kind), version)
        form = BuilderForm(initial=initial, team=team, template=version)
        form.attribute_rows = form.attribute_rows or [("", "")]
        ctx.update(form=form, form_token=new_form_token(request.user), preview=None)
        ctx.update(template_use.start_context(team, version))
        _resolving(ctx, again)
        return render(request, "provisioning/device_new.html", ctx)

    form = BuilderForm(request.POST, team=team)
    action = request.POST.get("action", "preview")
    # "Send again" of an attempt whose outcome is unknown: the new attempt says which it resolves.
    resolves = _unknown_attempt(team, request.POST["resolves"]) if request.POST.get("resolves") else None
    _resolving(ctx, resolves)
    ctx["form_token"] = request.POST.get("form_token") or new_form_token(request.user)
    # A full page drops what was typed into the secret fields: it says so, and Send asks again.
    ctx["secret_typed"] = not request.POST.get("generate_instead") and any(
        request.POST.get(field) for field in ("password", "psk_key", "secret_was_typed")
    )
    if action == "template":
        return _start_from_template(request, ctx, form)
    valid = form.is_valid()
    if valid and resolves is not None and (problem := _resume_problem(form, resolves)):
        form.add_error(None, problem)
        valid = False
    ctx["form"] = form
    ctx.update(template_use.start_context(team, form.template))
    if action == "add-attr" or action.startswith("remove-attr:"):
        ctx["attr_focus"] = _edit_attribute_rows(request, form)
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

    correlation_id = form_token_attempt(request.user, request.POST.get("form_token"))
    if correlation_id is None:
        # Not a second submit (that has a valid token whose intent exists): a form opened too
        # long ago, or not issued to this user. Nothing is sent; the page gets a fresh token.
        ctx.update(form_token=new_form_token(request.user), preview=request_preview(form), stale_form=True)
        return render(request, "provisioning/device_new.html", ctx, status=400)
    config = form.cleaned_data["config"]
    secret_kind = form.cleaned_data["credentials_type"]
    generated = form.new_secret() if form.needs_generated_secret() else None
    if not config.is_bosch:
        return _send_hono_ditto(request, ctx, form, correlation_id, generated=generated, resolves=resolves)
    body = form.to_body(generated_secret=generated)
    try:
        outcome = services.provision_device(
            actor=request.user,
            team=team,
            config=config,
            body=body,
            auth_scope=form.effective_auth_scope(),
            correlation_id=correlation_id,
            origin={"resolves": str(resolves.correlation_id)} if resolves else None,
            template=form.template,
        )
    except services.AlreadyBegun as already:
        return _second_submission(request, ctx, form, already.correlation_id)
    except services.AuditUnavailable as exc:
        # Nothing was written or sent: the same form may be sent again.
        ctx.update(preview=request_preview(form), failure=str(exc))
        return render(request, "provisioning/device_new.html", ctx, status=503)

    device_id = body["id"]
    # The page needs no provider body; the 201 body echoes the device secret.
    ctx.update(outcome=dataclasses.replace(outcome, body=None), device_id=device_id, config=config)
    secret = bosch.body_secret(body)
    if outcome.ok:
        result = {
            "kind": "created",
            "settings": bosch.connection_settings(outcome.body, device_id, secret_kind, None),
            "secret": secret,
            "secret_kind": secret_kind,
            "generated": generated is not None,
        }
        if secret:
            held_results.hold(correlation_id, request.user, result)
        return _result_page(request, ctx, result)
    # The preview first: a field error below takes the field out of cleaned_data.
    ctx.update(form_token=new_form_token(request.user), preview=request_preview(form))
    if outcome.status == "conflict":
        ctx["existing"] = device_history_entry(team, device_id)
    if outcome.http_status in (400, 409):  # a refusal of the content, which may name its field
        ctx["attributes_error"] = _show_provider_error(form, outcome)
    if outcome.status == "unknown" and generated is not None:
        _show_maybe_secret(request, ctx, correlation_id, generated, secret_kind)
    return _not_created_page(request, ctx)


def _show_maybe_secret(request, ctx, correlation_id, secret, secret_kind):
    """The device may exist now, with this generated ``secret``: it is shown once, as after a
    201, and held for a second submission of the same form."""
    ctx.update(maybe_secret=_shown(secret), secret_kind=secret_kind)
    held_results.hold(
        correlation_id, request.user, {"kind": "unknown", "secret": secret, "secret_kind": secret_kind}
    )


def _not_created_page(request, ctx):
    response = render(request, "provisioning/device_new.html", ctx, status=200)
    response["Cache-Control"] = "no-store"
    return response


def _send_hono_ditto(request, ctx, form, correlation_id, *, generated, resolves):
    """Send through a Hono + Ditto or Ditto connection: its plan as one attempt, and the same
    show-once result, held result and second-submission answer as a Bosch Send."""
    team, config = ctx["membership"].team, form.cleaned_data["config"]
    secret_kind = form.cleaned_data["credentials_type"]
    try:
        sent = hono_ditto_builder.send(
            form,
            actor=request.user,
            team=team,
            correlation_id=correlation_id,
            generated=generated,
            resolves=resolves.correlation_id if resolves else None,
            template=form.template,
        )
    except services.AlreadyBegun as already:
        return _second_submission(request, ctx, form, already.correlation_id)
    except services.AuditUnavailable as exc:
        ctx.update(preview=request_preview(form), failure=str(exc))
        return render(request, "provisioning/device_new.html", ctx, status=503)
    except crypto.SecretBoxError as exc:
        ctx.update(preview=request_preview(form), failure=hono_ditto_builder.unusable_password(exc))
        return render(request, "provisioning/device_new.html", ctx, status=503)
    result, device_id = sent.result, form.device_id
    ctx.update(device_id=device_id, config=config)
    if result.ok:
        held = {
            "kind": "created",
            "settings": hono_ditto_builder.device_settings(config, form),
            "secret": sent.secret or None,
            "secret_kind": secret_kind,
            "generated": generated is not None and bool(sent.secret),
        }
        if sent.secret:
            held_results.hold(correlation_id, request.user, held)
        ctx.update(
            outcome={"correlation_id": correlation_id, "latency_ms": sent.latency_ms},
            made=result.created,
            # What a Send again did of the attempt it completes: the steps made now; the rest
            # (in ``made``) that attempt had made, confirmed then or found made already now.
            made_now=[s.name for s in result.steps if s.stage == "provision" and s.status == "created"],
            credentials_kept=form.to_spec().has_credentials and not sent.secret,
        )
        return _result_page(request, ctx, held)
    ctx.update(outcome=result, form_token=new_form_token(request.user), preview=request_preview(form))
    if result.status == "conflict":
        ctx["existing"] = device_history_entry(team, device_id)
    credentials_left = "credentials" in result.created and "credentials" not in result.undone
    # Only a secret this attempt sent may be the device's now.
    if generated is not None and sent.secret and (result.status == "unknown" or credentials_left):
        _show_maybe_secret(request, ctx, correlation_id, generated, secret_kind)
    return _not_created_page(request, ctx)


@login_required
@never_cache
@require_http_methods(["GET"])
def device_send_progress(request, team_slug):
    """What the Send of the form ``?token=`` is waiting for (polled by the page while it sends),
    as plain text; empty while there is nothing to say."""
    get_membership(request, team_slug, PROVISIONERS)
    correlation_id = form_token_attempt(request.user, request.GET.get("token"))
    text = api.progress(correlation_id) if correlation_id else ""
    return HttpResponse(text, content_type="text/plain; charset=utf-8")
