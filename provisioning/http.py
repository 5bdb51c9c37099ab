"""The HTTP choke point: every request to a token endpoint or the provisioning API
goes through here, with fixed timeouts, redirects off, the outbound URL check and
a cap on how much of a response body is read.
"""

import json
import threading
import time

import requests
import urllib3
from django.conf import settings

from provisioning.errors import ConfigurationError
from provisioning.outbound import UnsafeURL, check_url

MAX_BODY_BYTES = 64 * 1024
USER_AGENT = "Provisioner/0.1 (+self-hosted Bosch IoT Suite provisioning dashboard)"

_local = threading.local()


def timeouts():
    return (settings.OUTBOUND_CONNECT_TIMEOUT, settings.OUTBOUND_READ_TIMEOUT)


IDLE_REUSE = 1.0  # seconds a thread's kept-alive connections may sit idle and still be used again


def session():
    """This thread's keep-alive session (requests sessions are not thread-safe).

    A server closes idle connections on its own schedule (gunicorn after 2 s, load
    balancers after about a minute). A POST written into a connection at the moment the
    server closes it fails with no way to tell whether it arrived: a provisioning call
    would end "outcome unknown". So a session left idle for more than IDLE_REUSE seconds
    closes its connections and the next request connects afresh; a busy thread (a bulk
    job's sender) keeps its connections.
    """
    s = getattr(_local, "session", None)
    now = time.monotonic()
    if s is None:
        s = requests.Session()
        s.trust_env = False  # no proxies or .netrc credentials from the environment
        s.headers["User-Agent"] = USER_AGENT
        _local.session = s
    elif now - _local.used_at > IDLE_REUSE:
        s.close()  # closes the pooled connections; the session itself can be used again
    _local.used_at = now
    return s


def checked(url):
    """The URL, if it may be called now: checked at every call, with DNS (see outbound.check_url)."""
    try:
        check_url(url, resolve=True)
    except UnsafeURL as exc:
        raise ConfigurationError(f"Refused to call {url!r}: {exc}") from None
    return url


def read_capped(response, limit=MAX_BODY_BYTES):
    """Read at most ``limit`` bytes of a streamed response (``stream=True``) and close it.

    Returns (bytes, truncated): a provider or proxy that answers with a huge body costs
    at most ``limit`` bytes of memory.
    """
    data = bytearray()
    try:
        for chunk in response.iter_content(chunk_size=16 * 1024):
            data += chunk
            if len(data) > limit:
                break
    finally:
        response.close()
    return bytes(data[:limit]), len(data) > limit


def parse_json(data):
    """Parse a JSON object, or return None for anything else."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def is_connect_failure(exc):
    """True when the request surely never reached the server (it may be sent again)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # MaxRetryError wraps the cause
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False
