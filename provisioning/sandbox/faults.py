"""Acting out the knobs on one request: latency, then at most one queued fault.

See knobs.py for what each fault does. The "reset" fault needs the client's
socket: gunicorn hands it over as ``environ["gunicorn.socket"]``; Django's
development and live-test server (wsgiref) only through the request stream,
``environ["wsgi.input"]``, whose buffered reader wraps the socket. The socket
is shut down, not closed: the server still owns the file descriptor, and
closing it under a threaded server could hand the number to another
connection. The client sees the connection end without a response.
"""

import logging
import socket
import time

from django.http import HttpResponse

from provisioning.sandbox import knobs as knob_store
from provisioning.sandbox.models import Fault

logger = logging.getLogger(__name__)

GARBAGE = b"<html><body><h1>Gateway says hello</h1><p>This is not JSON.</p></body></html>\n"


def before_request(target):
    """Count the request, apply latency, take one fault. Return (knobs, fault or None)."""
    knobs = knob_store.begin_request(target)
    if knobs.latency_ms:
        time.sleep(knobs.latency_ms / 1000)
    fault = knob_store.take_fault(target) if knobs.fault_pending else None
    if fault is not None and fault.kind == Fault.Kind.SLOW:
        time.sleep(knob_store.slow_seconds(fault))
    return knobs, fault


def garbage(status):
    """The body of a "garbage" fault: the real status, a body that is not JSON."""
    return HttpResponse(GARBAGE, status=status, content_type="application/json")


def drop_connection(request):
    """Shut the client's connection down without an answer; False when no socket was found."""
    sock = request.META.get("gunicorn.socket") or _socket_behind(request.META.get("wsgi.input"))
    if sock is None:
        logger.warning("sandbox: a 'reset' fault could not find the client socket on this server")
        return False
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already gone: as good as dropped
    logger.info("sandbox: a 'reset' fault dropped the connection of %s %s", request.method, request.path)
    return True


def _socket_behind(stream):
    """Follow the wrappers of a WSGI input stream down to its socket (wsgiref, Django's test server)."""
    seen = 0
    while stream is not None and seen < 8:
        if isinstance(stream, socket.socket):
            return stream
        seen += 1
        bound_read = getattr(stream, "_read", None)
        stream = (
            getattr(stream, "_sock", None)
            or getattr(stream, "raw", None)
            or getattr(bound_read, "__self__", None)
            or getattr(stream, "stream", None)
        )
    return None


def dropped_response():
    """What the view returns after dropping: the server's write fails quietly, nobody reads it.

    A 2xx, so that Django does not also log the dropped request as a client or server error.
    """
    return HttpResponse(status=204)


STATUS_KINDS = frozenset(
    {
        Fault.Kind.TOO_MANY,
        Fault.Kind.SERVER_ERROR,
        Fault.Kind.UNAVAILABLE,
        Fault.Kind.PAYMENT,
        Fault.Kind.UNAUTHORIZED,
    }
)


def serve(request, target, handle, refuse):
    """One request to the Hono or Ditto endpoints, with the knobs and faults of ``target`` acted out.

    ``handle(knobs)`` answers the request; ``refuse(status, headers)`` answers a status fault
    (429, 500, 503, 402, 401) in the API's own error shape, before anything is done.
    """
    knobs, fault = before_request(target)
    if fault is not None and fault.kind == Fault.Kind.RESET and drop_connection(request):
        return dropped_response()
    if fault is not None and fault.kind in STATUS_KINDS:
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        response = refuse(int(fault.kind), headers)
    else:
        response = handle(knobs)
    if fault is not None and fault.kind == Fault.Kind.GARBAGE:
        return garbage(response.status_code)
    return response
