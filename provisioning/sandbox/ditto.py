"""The sandbox's Eclipse Ditto: /sandbox/api/2/things/{thingId} and /sandbox/api/2/policies/{policyId}.

provisioning-api.md §11 and ``ditto-api-2.yml``, as Ditto answers over HTTP:

- ``PUT`` creates (201, the body, ``Location``, ``ETag: "rev:1"``) or replaces (204, ``ETag``);
  ``If-None-Match: *`` makes it create-only (412 when it exists, with the current ETag);
  ``If-Match: *`` or ``"rev:N"`` must match (412 otherwise); ``GET`` answers 304 to a matching
  ``If-None-Match``;
- a thing created without a policy gets one with its own id that grants the caller
  everything; ``policyId`` must name an existing policy (400 ``things:thing.notcreatable``);
  ``_policy`` creates the policy inline; ``_copyPolicyFrom`` copies one (404 when missing);
  the caller must keep WRITE on the new thing (403 otherwise);
- a policy must leave the caller WRITE on ``policy:/`` unless ``allow-policy-lockout=true``
  (403); what the caller may not READ answers 404, what it may read but not WRITE 403;
- deleting a thing leaves its policy;
- errors are ``{status, error, message, description}`` (AdvancedError).

Authentication (auth.py): Basic (subject ``nginx:<user>``) or a sandbox bearer token
(``sandbox:<sub>``). Knobs and faults: those of the "ditto" target (faults.serve).
"""

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from provisioning.sandbox import auth, faults, storable
from provisioning.sandbox.ditto_model import (
    COPY_REFERENCE,
    DittoError,
    check_policy,
    check_policy_id,
    check_thing,
    check_thing_id,
    default_policy,
    has,
)
from provisioning.sandbox.errors import ApiError, json_response
from provisioning.sandbox.models import DittoPolicy, DittoThing, Fault

MAX_BODY = 100 * 1024


def answer(error):
    return json_response(error.body, status=error.status, headers=error.headers)


FAULTS = {
    429: ("things:thing.toomanymodifyingrequests", "Too many modifying requests are already outstanding."),
    500: ("gateway:internal.error", "There was a rare case of an unexpected internal error."),
    503: ("gateway:service.unavailable", "The service is currently not available."),
    402: ("gateway:quota.exceeded", "The service plan's limits are exceeded."),
    401: ("gateway:authentication.failed", "The JWT was rejected."),
}


def refuse(status, headers):
    error, message = FAULTS[status]
    if status == 401:
        headers = {**headers, "WWW-Authenticate": auth.CHALLENGE}
    return answer(DittoError(status, error, message, "Try again later.", headers=headers))


def _serve(request, handlers, entity_id):
    def handle(knobs):
        try:
            try:
                caller = auth.authenticate(request, knobs)
            except auth.Unauthenticated as error:
                raise DittoError(
                    401,
                    "gateway:authentication.failed",
                    str(error),
                    "Check if your credentials were correct.",
                    headers={"WWW-Authenticate": auth.CHALLENGE},
                ) from None
            handler = handlers.get(request.method)
            if handler is None:
                allowed = ", ".join(handlers)
                raise DittoError(
                    405, "gateway:method.notallowed", f"Use {allowed}.", headers={"Allow": allowed}
                )
            return handler(request, caller.subject, entity_id)
        except DittoError as error:
            return answer(error)

    return faults.serve(request, Fault.Target.DITTO, handle, refuse)


def _body(request):
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY or len(request.body) > MAX_BODY:
        raise DittoError(
            413, "things:thing.toolarge", "The entity is larger than the accepted limit of 100 kB."
        )
    if not request.body:
        raise DittoError(400, "json.invalid", "The request needs a JSON body.", "Send a JSON object.")
    try:
        return storable.parse_json(request.body)
    except ApiError as error:
        raise DittoError(
            400, "json.invalid", error.description, "Check that the body is valid JSON."
        ) from None


def _etag(revision):
    return f'"rev:{revision}"'


def _precondition(request, row, prefix):
    """Raise 412 (or, for a GET, answer 304) when If-Match / If-None-Match say so."""
    current = _etag(row.revision) if row is not None else None
    if_match, if_none_match = request.headers.get("If-Match"), request.headers.get("If-None-Match")
    headers = {"ETag": current} if current else {}
    if if_match is not None and not _listed(if_match, current):
        raise _failed(prefix, "If-Match", if_match, headers)
    if if_none_match is not None and _listed(if_none_match, current):
        if request.method == "GET":
            return HttpResponse(status=304, headers=headers)
        raise _failed(prefix, "If-None-Match", if_none_match, headers)
    return None


def _listed(header, current):
    if current is None:
        return False
    if header.strip() == "*":
        return True
    return current in {tag.strip().removeprefix("W/") for tag in header.split(",")}


def _failed(prefix, name, value, headers):
    return DittoError(
        412,
        f"{prefix}:precondition.failed",
        f"The comparison of precondition header '{name.lower()}' for the requested {prefix[:-1]} resource "
        f"evaluated to false. Header value: '{value}', actual entity-tag: '{headers.get('ETag', '')}'.",
        "The comparison of the provided precondition header with the entity-tag evaluated to false. "
        "Check the value of your conditional header value.",
        headers=headers,
    )


def _lockout_allowed(request):
    value = request.GET.get("allow-policy-lockout") or request.headers.get("allow-policy-lockout") or ""
    return value.lower() == "true"


# Things


@csrf_exempt
def thing(request, thing_id):
    return _serve(request, {"GET": _get_thing, "PUT": _put_thing, "DELETE": _delete_thing}, thing_id)


def thing_not_found(thing_id):
    return DittoError(
        404,
        "things:thing.notfound",
        f"The Thing with ID '{thing_id}' could not be found or "
        "requester had insufficient permissions to access it.",
        "Check if the ID of your requested Thing was correct and you have sufficient permissions.",
    )


def _readable_thing(thing_id, subject, *, lock=False):
    """The thing and its policy's entries, or (None, None) when missing or not readable."""
    rows = DittoThing.objects.select_for_update() if lock else DittoThing.objects
    row = rows.filter(thing_id=thing_id).first() if storable.storable_text(thing_id) else None
    if row is None:
        return None, None
    entries = DittoPolicy.objects.filter(policy_id=row.policy_id).values_list("entries", flat=True).first()
    if entries is None or not has(entries, subject, "thing", "READ"):
        return None, None
    return row, entries


def _thing_json(row, fields=None):
    body = {"thingId": row.thing_id, "policyId": row.policy_id, **row.data}
    if fields is None:
        return body
    extra = {
        "_revision": row.revision,
        "_created": row.created_at.isoformat(),
        "_modified": row.updated_at.isoformat(),
    }
    return {name: {**body, **extra}[name] for name in fields if name in {**body, **extra}}


def _get_thing(request, subject, thing_id):
    check_thing_id(thing_id)
    row, _ = _readable_thing(thing_id, subject)
    if row is None:
        raise thing_not_found(thing_id)
    not_modified = _precondition(request, row, "things")
    if not_modified:
        return not_modified
    fields = request.GET.get("fields")
    selected = [name.strip() for name in fields.split(",") if name.strip()] if fields else None
    return json_response(_thing_json(row, selected), headers={"ETag": _etag(row.revision)})


def _put_thing(request, subject, thing_id):
    check_thing_id(thing_id)
    body = check_thing(_body(request), thing_id)
    try:
        with transaction.atomic():
            existing = DittoThing.objects.select_for_update().filter(thing_id=thing_id).first()
            readable = existing is not None and _readable_thing(thing_id, subject)[0] is not None
            _precondition(request, existing, "things")
            if existing is not None:
                return _modify_thing(existing, readable, body, subject)
            return _create_thing(request, thing_id, body, subject)
    except IntegrityError:
        # Created by another request between our look and our insert.
        raise _failed("things", "If-None-Match", request.headers.get("If-None-Match") or "", {}) from None


def _data(body):
    return {key: body[key] for key in ("definition", "attributes", "features") if key in body}


def _create_thing(request, thing_id, body, subject):
    # The thing's row first: a concurrent create of the same id then waits on its unique key
    # and fails with IntegrityError (412 for If-None-Match), rather than finding the policy
    # this request is about to make and calling the thing "not creatable". A refusal below
    # rolls the row back with the rest of _put_thing's transaction.
    policy_id = body.get("policyId") or thing_id
    row = DittoThing.objects.create(thing_id=thing_id, policy_id=policy_id, data=_data(body))
    if "_policy" in body:
        entries, imports = check_policy(body["_policy"], policy_id, subject)
        _check_lockout(request, entries, subject, "policies:policy.notcreatable", policy_id)
        new_policy = (entries, imports)
    elif "_copyPolicyFrom" in body:
        new_policy = (_entries_to_copy(body["_copyPolicyFrom"], subject), None)
    elif "policyId" in body:
        new_policy = None
    else:
        new_policy = (default_policy(subject), None)
    if new_policy is not None:
        if DittoPolicy.objects.filter(policy_id=policy_id).exists():
            raise _not_creatable(
                thing_id, f"could not be created because the Policy with ID '{policy_id}' already exists."
            )
        DittoPolicy.objects.create(policy_id=policy_id, entries=new_policy[0], imports=new_policy[1])
        entries = new_policy[0]
    else:
        entries = DittoPolicy.objects.filter(policy_id=policy_id).values_list("entries", flat=True).first()
        if entries is None:
            raise _not_creatable(
                thing_id, f"could not be created as the Policy with ID '{policy_id}' is not existing."
            )
    if not has(entries, subject, "thing", "WRITE"):
        raise DittoError(
            403,
            "things:thing.notcreatable",
            f"The Thing with ID '{thing_id}' could not be created as "
            "the requester would have no access to it.",
            "The policy must grant the requester WRITE on thing:/.",
        )
    response = json_response(_thing_json(row), status=201, headers={"ETag": _etag(row.revision)})
    response["Location"] = request.build_absolute_uri(reverse("sandbox:ditto_thing", args=[thing_id]))
    return response


def _not_creatable(thing_id, rest):
    return DittoError(
        400,
        "things:thing.notcreatable",
        f"The Thing with ID '{thing_id}' {rest}",
        "Check if the ID of the Policy you created the Thing with is "
        "correct and that the Policy is existing.",
    )


def _entries_to_copy(source, subject):
    reference = COPY_REFERENCE.fullmatch(source.strip())
    if reference:
        row, _ = _readable_thing(reference.group(1), subject)
        if row is None:
            raise thing_not_found(reference.group(1))
        source = row.policy_id
    entries = DittoPolicy.objects.filter(policy_id=source).values_list("entries", flat=True).first()
    if entries is None or not has(entries, subject, "policy", "READ"):
        raise _policy_not_found(source)
    return entries


def _modify_thing(row, readable, body, subject):
    if not readable:
        raise thing_not_found(row.thing_id)
    entries = DittoPolicy.objects.filter(policy_id=row.policy_id).values_list("entries", flat=True).first()
    if not has(entries or {}, subject, "thing", "WRITE"):
        raise DittoError(
            403,
            "things:thing.notmodifiable",
            f"The Thing with ID '{row.thing_id}' could not be modified as "
            "the requester had insufficient permissions.",
            "Check if the ID of your requested Thing was correct and you have sufficient permissions.",
        )
    if "_policy" in body or "_copyPolicyFrom" in body:
        raise DittoError(
            400,
            "things:thing.invalid",
            "The fields '_policy' and '_copyPolicyFrom' are only allowed when a Thing is created.",
            "Change the policy with PUT /policies/{policyId}.",
        )
    policy_id = body.get("policyId", row.policy_id)
    if not DittoPolicy.objects.filter(policy_id=policy_id).exists():
        raise _policy_not_found(policy_id)
    DittoThing.objects.filter(pk=row.pk).update(
        policy_id=policy_id, data=_data(body), revision=row.revision + 1, updated_at=timezone.now()
    )
    response = HttpResponse(status=204)
    response["ETag"] = _etag(row.revision + 1)
    return response


def _delete_thing(request, subject, thing_id):
    check_thing_id(thing_id)
    with transaction.atomic():
        row, entries = _readable_thing(thing_id, subject, lock=True)
        if row is None:
            raise thing_not_found(thing_id)
        _precondition(request, row, "things")
        if not has(entries, subject, "thing", "WRITE"):
            raise DittoError(
                403,
                "things:thing.notdeletable",
                f"The Thing with ID '{thing_id}' could not be deleted as the "
                "requester had insufficient permissions.",
                "WRITE on thing:/ is needed to delete a Thing.",
            )
        row.delete()
    return HttpResponse(status=204)


# Policies


@csrf_exempt
def policy(request, policy_id):
    return _serve(request, {"GET": _get_policy, "PUT": _put_policy, "DELETE": _delete_policy}, policy_id)


def _policy_not_found(policy_id):
    return DittoError(
        404,
        "policies:policy.notfound",
        f"The Policy with ID '{policy_id}' could not be found or "
        "requester had insufficient permissions to access it.",
        "Check if the ID of your requested Policy was correct and you have sufficient permissions.",
    )


def _readable_policy(policy_id, subject, *, lock=False):
    rows = DittoPolicy.objects.select_for_update() if lock else DittoPolicy.objects
    row = rows.filter(policy_id=policy_id).first() if storable.storable_text(policy_id) else None
    if row is None or not has(row.entries, subject, "policy", "READ"):
        return None
    return row


def _policy_json(row):
    body = {"policyId": row.policy_id, "entries": row.entries}
    if row.imports is not None:
        body["imports"] = row.imports
    return body


def _check_lockout(request, entries, subject, error, policy_id):
    if not _lockout_allowed(request) and not has(entries, subject, "policy", "WRITE"):
        raise DittoError(
            403,
            error,
            f"The Policy with ID '{policy_id}' would not grant the requester WRITE on 'policy:/'.",
            "Grant yourself WRITE on policy:/, or set allow-policy-lockout=true.",
        )


def _get_policy(request, subject, policy_id):
    check_policy_id(policy_id)
    row = _readable_policy(policy_id, subject)
    if row is None:
        raise _policy_not_found(policy_id)
    not_modified = _precondition(request, row, "policies")
    if not_modified:
        return not_modified
    return json_response(_policy_json(row), headers={"ETag": _etag(row.revision)})


def _put_policy(request, subject, policy_id):
    check_policy_id(policy_id)
    entries, imports = check_policy(_body(request), policy_id, subject)
    for imported in imports or {}:
        if _readable_policy(imported, subject) is None:
            raise _policy_not_found(imported)
    try:
        with transaction.atomic():
            existing = DittoPolicy.objects.select_for_update().filter(policy_id=policy_id).first()
            _precondition(request, existing, "policies")
            if existing is None:
                _check_lockout(request, entries, subject, "policies:policy.notcreatable", policy_id)
                row = DittoPolicy.objects.create(policy_id=policy_id, entries=entries, imports=imports)
                response = json_response(_policy_json(row), status=201, headers={"ETag": _etag(1)})
                response["Location"] = request.build_absolute_uri(
                    reverse("sandbox:ditto_policy", args=[policy_id])
                )
                return response
            if not has(existing.entries, subject, "policy", "READ"):
                raise _policy_not_found(policy_id)
            if not has(existing.entries, subject, "policy", "WRITE"):
                raise _not_modifiable(policy_id)
            _check_lockout(request, entries, subject, "policies:policy.notmodifiable", policy_id)
            DittoPolicy.objects.filter(pk=existing.pk).update(
                entries=entries, imports=imports, revision=existing.revision + 1, updated_at=timezone.now()
            )
    except IntegrityError:
        raise _failed("policies", "If-None-Match", request.headers.get("If-None-Match") or "", {}) from None
    response = HttpResponse(status=204)
    response["ETag"] = _etag(existing.revision + 1)
    return response


def _not_modifiable(policy_id):
    return DittoError(
        403,
        "policies:policy.notmodifiable",
        f"The Policy with ID '{policy_id}' could not be modified as "
        "the requester had insufficient permissions.",
        "Check if the ID of the Policy was correct and you have sufficient permissions.",
    )


def _delete_policy(request, subject, policy_id):
    check_policy_id(policy_id)
    with transaction.atomic():
        row = _readable_policy(policy_id, subject, lock=True)
        if row is None:
            raise _policy_not_found(policy_id)
        _precondition(request, row, "policies")
        if not has(row.entries, subject, "policy", "WRITE"):
            raise _not_modifiable(policy_id)
        row.delete()
    return HttpResponse(status=204)


@csrf_exempt
def not_found(request, rest=None):
    """Anything else under /api/2/: Ditto's error shape."""
    return json_response(
        {
            "status": 404,
            "error": "gateway:resource.notfound",
            "message": f"The requested resource '{request.path}' is not served by this sandbox.",
            "description": "The sandbox serves /api/2/things/{thingId} and /api/2/policies/{policyId}.",
        },
        status=404,
    )
