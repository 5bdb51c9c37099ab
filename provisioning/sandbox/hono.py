"""The sandbox's Eclipse Hono device registry: /sandbox/v1/tenants, devices and credentials.

provisioning-api.md §10 and ``hono-device-registry-v1.yaml`` (1.13.0), served as Hono's
MongoDB and JDBC registries do:

- every answer that is not a success is ``{"error": "..."}``, except a 401: no body (as the
  spec documents it), a ``WWW-Authenticate`` header;
- ETags are opaque UUIDs, sent and compared unquoted; ``If-Match`` on PUT and DELETE must equal
  the current one or the answer is 412 (no ``*``, no ``If-None-Match``);
- creating a device also creates its empty credentials set; deleting a device deletes its
  credentials; a search without a match is a 404;
- bodies over 16,000 bytes are a 413; a body without ``Content-Type: application/json`` a 400.

Authentication (auth.py): HTTP Basic or a sandbox bearer token. Knobs and faults: those of
the "hono" fault target (faults.serve). State is in the database (models.Hono*), so every
web process answers alike; writes that depend on a version are conditional updates.
"""

import uuid

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from provisioning.sandbox import auth, faults, hono_credentials, storable
from provisioning.sandbox.errors import ApiError, json_response
from provisioning.sandbox.hono_registry import (
    DEVICE_ID,
    TENANT_ID,
    RegistryError,
    check_device,
    check_tenant,
    id_error,
    search,
    search_options,
)
from provisioning.sandbox.models import Fault, HonoCredential, HonoDevice, HonoTenant

MAX_BODY = 16_000


class HonoError(Exception):
    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}

    def response(self):
        if self.status == 401:
            # The spec documents a 401 by its WWW-Authenticate header alone, without a body.
            return HttpResponse(status=401, headers={**self.headers, "WWW-Authenticate": auth.CHALLENGE})
        return json_response({"error": self.message}, status=self.status, headers=self.headers)


def _refuse(status, headers):
    """A queued status fault, in Hono's error shape."""
    messages = {
        429: "too many requests",
        500: "internal server error",
        503: "service unavailable",
        402: "resource limit exceeded",
        401: "unauthorized",
    }
    return HonoError(status, messages[status], headers).response()


def _serve(request, handlers, *args):
    """Knobs and faults, authentication, then the handler of the request's method."""

    def handle(knobs):
        try:
            try:
                auth.authenticate(request, knobs)
            except auth.Unauthenticated as error:
                raise HonoError(401, str(error)) from None
            handler = handlers.get(request.method)
            if handler is None:
                allowed = ", ".join(handlers)
                raise HonoError(405, f"use {allowed}", {"Allow": allowed})
            return handler(request, *args)
        except HonoError as error:
            return error.response()

    return faults.serve(request, Fault.Target.HONO, handle, _refuse)


def _etag():
    return str(uuid.uuid4())


def _no_content(etag=None):
    response = HttpResponse(status=204)
    if etag:
        response["ETag"] = etag
    return response


def _body(request, *, required):
    """The JSON body, None when there is none (and none is required), or a HonoError."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        raise HonoError(413, f"the request body exceeds {MAX_BODY} bytes")
    raw = request.body
    if len(raw) > MAX_BODY:
        raise HonoError(413, f"the request body exceeds {MAX_BODY} bytes")
    if not raw:
        if required:
            raise HonoError(400, "the request needs a JSON body")
        return None
    if request.content_type != "application/json":
        raise HonoError(400, "the body must be sent with Content-Type: application/json")
    try:
        return storable.parse_json(raw)
    except ApiError as error:
        raise HonoError(400, error.description) from None


def _if_match(request):
    return request.headers.get("If-Match")


def _tenant(tenant_id):
    tenant = (
        HonoTenant.objects.filter(tenant_id=tenant_id).first() if storable.storable_text(tenant_id) else None
    )
    if tenant is None:
        raise HonoError(404, "tenant not found")
    return tenant


def _device(tenant, device_id):
    device = (
        HonoDevice.objects.filter(tenant=tenant, device_id=device_id).first()
        if storable.storable_text(device_id)
        else None
    )
    if device is None:
        raise HonoError(404, "device not found")
    return device


def _created(request, url, new_id, etag):
    response = json_response({"id": new_id}, status=201, headers={"ETag": etag})
    response["Location"] = request.build_absolute_uri(url)
    return response


def _lost(expected, noun):
    """A conditional write that changed nothing: a version mismatch, or the row went meanwhile."""
    if expected is not None:
        return HonoError(412, "resource version mismatch")
    return HonoError(404, f"{noun} not found")


def _registry(check, body):
    try:
        return check(body if body is not None else {})
    except RegistryError as error:
        raise HonoError(400, str(error)) from None


def _status(row):
    return {"created": _instant(row.created_at), "updated": _instant(row.updated_at)}


def _instant(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# Tenants


@csrf_exempt
def tenants(request):
    """POST /v1/tenants (the registry picks the id), GET /v1/tenants (search)."""
    return _serve(request, {"POST": _create_tenant, "GET": _search_tenants}, None)


@csrf_exempt
def tenant(request, tenant_id):
    handlers = {"POST": _create_tenant, "GET": _get_tenant, "PUT": _update_tenant, "DELETE": _delete_tenant}
    return _serve(request, handlers, tenant_id)


def _create_tenant(request, tenant_id):
    tenant_id = tenant_id or str(uuid.uuid4())
    problem = id_error(tenant_id, TENANT_ID, "tenant id")
    if problem:
        raise HonoError(400, problem)
    data = _registry(check_tenant, _body(request, required=False))
    etag = _etag()
    try:
        with transaction.atomic():
            HonoTenant.objects.create(tenant_id=tenant_id, data=data, etag=etag)
    except IntegrityError:
        raise HonoError(409, "tenant with given identifier already exists") from None
    return _created(request, reverse("sandbox:hono_tenant", args=[tenant_id]), tenant_id, etag)


def _get_tenant(request, tenant_id):
    row = _tenant(tenant_id)
    return json_response(row.data, headers={"ETag": row.etag})


def _update_tenant(request, tenant_id):
    row = _tenant(tenant_id)
    data = _registry(check_tenant, _body(request, required=True))
    etag, expected = _etag(), _if_match(request)
    rows = HonoTenant.objects.filter(pk=row.pk, **({"etag": expected} if expected is not None else {}))
    if not rows.update(data=data, etag=etag):
        raise _lost(expected, "tenant")
    return _no_content(etag)


def _delete_tenant(request, tenant_id):
    row = _tenant(tenant_id)
    expected = _if_match(request)
    rows = HonoTenant.objects.filter(pk=row.pk, **({"etag": expected} if expected is not None else {}))
    if not rows.delete()[0]:
        raise _lost(expected, "tenant")
    return _no_content()


def _search_tenants(request, _):
    options = _search_options(request)
    documents = [{"id": row.tenant_id, **row.data} for row in HonoTenant.objects.order_by("tenant_id")]
    total, page = search(documents, options)
    if not total:
        raise HonoError(404, "no tenants found")
    return json_response({"total": total, "result": page})


def _search_options(request):
    try:
        return search_options(request.GET)
    except RegistryError as error:
        raise HonoError(400, str(error)) from None


# Devices


@csrf_exempt
def devices(request, tenant_id):
    """POST (the registry picks the id), GET (search) and DELETE (all) of /v1/devices/{tenant}."""
    handlers = {"POST": _create_device, "GET": _search_devices, "DELETE": _delete_devices}
    return _serve(request, handlers, tenant_id, None)


@csrf_exempt
def device(request, tenant_id, device_id):
    handlers = {"POST": _create_device, "GET": _get_device, "PUT": _update_device, "DELETE": _delete_device}
    return _serve(request, handlers, tenant_id, device_id)


def _create_device(request, tenant_id, device_id):
    tenant = _tenant(tenant_id)
    device_id = device_id or str(uuid.uuid4())
    problem = id_error(device_id, DEVICE_ID, "device id")
    if problem:
        raise HonoError(400, problem)
    data = _registry(check_device, _body(request, required=False))
    etag = _etag()
    try:
        with transaction.atomic():
            HonoDevice.objects.create(
                tenant=tenant, device_id=device_id, data=data, etag=etag, credentials_etag=_etag()
            )
    except IntegrityError:
        raise HonoError(409, "device already exists") from None
    url = reverse("sandbox:hono_device", args=[tenant.tenant_id, device_id])
    return _created(request, url, device_id, etag)


def _get_device(request, tenant_id, device_id):
    row = _device(_tenant(tenant_id), device_id)
    return json_response({**row.data, "status": _status(row)}, headers={"ETag": row.etag})


def _update_device(request, tenant_id, device_id):
    row = _device(_tenant(tenant_id), device_id)
    data = _registry(check_device, _body(request, required=True))
    etag, expected = _etag(), _if_match(request)
    rows = HonoDevice.objects.filter(pk=row.pk, **({"etag": expected} if expected is not None else {}))
    # update() skips auto_now: "updated" is set here.
    if not rows.update(data=data, etag=etag, updated_at=timezone.now()):
        raise _lost(expected, "device")
    return _no_content(etag)


def _delete_device(request, tenant_id, device_id):
    row = _device(_tenant(tenant_id), device_id)
    expected = _if_match(request)
    rows = HonoDevice.objects.filter(pk=row.pk, **({"etag": expected} if expected is not None else {}))
    if not rows.delete()[0]:  # its credentials go with it (on_delete=CASCADE)
        raise _lost(expected, "device")
    return _no_content()


def _search_devices(request, tenant_id, _):
    tenant = _tenant(tenant_id)
    options = _search_options(request)
    rows = HonoDevice.objects.filter(tenant=tenant).order_by("device_id")
    documents = [{"id": row.device_id, **row.data, "status": _status(row)} for row in rows.iterator()]
    total, page = search(documents, options)
    if not total:
        raise HonoError(404, "no devices found")
    return json_response({"total": total, "result": page})


def _delete_devices(request, tenant_id, _):
    HonoDevice.objects.filter(tenant=_tenant(tenant_id)).delete()
    return _no_content()


# Credentials


@csrf_exempt
def credentials(request, tenant_id, device_id):
    return _serve(request, {"GET": _get_credentials, "PUT": _set_credentials}, tenant_id, device_id)


def _get_credentials(request, tenant_id, device_id):
    row = _device(_tenant(tenant_id), device_id)
    body = [hono_credentials.shown(item) for item in row.credentials.all()]
    return json_response(body, headers={"ETag": row.credentials_etag})


def _set_credentials(request, tenant_id, device_id):
    tenant = _tenant(tenant_id)
    row = _device(tenant, device_id)
    body = _body(request, required=True)
    try:
        planned = hono_credentials.plan(body, list(row.credentials.all()))
    except hono_credentials.CredentialsError as error:
        raise HonoError(error.status, error.message) from None
    etag, expected = _etag(), _if_match(request)
    try:
        with transaction.atomic():
            rows = HonoDevice.objects.filter(pk=row.pk)
            if expected is not None:
                rows = rows.filter(credentials_etag=expected)
            if not rows.update(credentials_etag=etag):
                raise HonoError(412, "resource version mismatch")
            HonoCredential.objects.filter(device=row).delete()
            HonoCredential.objects.bulk_create(
                HonoCredential(tenant=tenant, device=row, position=n, **item)
                for n, item in enumerate(planned)
            )
    except IntegrityError:
        raise HonoError(409, "credentials (type, auth-id) must be unique for device") from None
    return _no_content(etag)


@csrf_exempt
def not_found(request, rest=None):
    """Anything else under /v1/: Hono's 404 shape."""
    return json_response({"error": "resource not found"}, status=404)
