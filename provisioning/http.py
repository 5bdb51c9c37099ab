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


IDLE_REUSE = 1.0  # seconds a kept-alive connection may sit idle and still be used again


class _FreshConnections:
    """For urllib3's pools: a connection idle for more than IDLE_REUSE seconds is closed,
    not reused.

    A server closes idle connections on its own schedule (gunicorn after 2 s, load
    balancers after about a minute). A POST written into a connection at the moment the
    server closes it fails with no way to tell whether it arrived, and a provisioning call
    would end "outcome unknown" (seen once in 794 Sends under load). A fresh connection
    costs a handshake; a busy job never idles long enough to pay it.
    """

    def _get_conn(self, timeout=None):
        conn = super()._get_conn(timeout=timeout)
        idle_since = getattr(conn, "provisioner_idle_since", None)
        if idle_since is not None and time.monotonic() - idle_since > IDLE_REUSE:
            conn.close()  # the next request on it connects again
        return conn

    def _put_conn(self, conn):
        if conn is not None:
            conn.provisioner_idle_since = time.monotonic()
        super()._put_conn(conn)


class _HTTPPool(_FreshConnections, urllib3.HTTPConnectionPool):
    pass


class _HTTPSPool(_FreshConnections, urllib3.HTTPSConnectionPool):
    pass


class _Adapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def session():
    """A keep-alive session per thread (requests sessions are not thread-safe)."""
    s = getattr(_local, "session", None)
    if s is None:
        s = requests.Session()
        s.trust_env = False  # no proxies or .netrc credentials from the environment
        s.headers["User-Agent"] = USER_AGENT
        for prefix in ("http://", "https://"):
            s.mount(prefix, _Adapter())
        _local.session = s
    return s


CHECK_TTL = 60  # seconds a URL that passed the check (with DNS) is trusted in this process
_checked_until = {}


def checked(url):
    """The URL, if it may be called now (checked again at call time, with DNS).

    A URL that passed is not looked up again for CHECK_TTL seconds, so a busy job
    does not pay a DNS round trip per request.
    """
    now = time.monotonic()
    if _checked_until.get(url, 0) > now:
        return url
    try:
        check_url(url, resolve=True)
    except UnsafeURL as exc:
        raise ConfigurationError(f"Refused to call {url!r}: {exc}") from None
    if len(_checked_until) > 10_000:
        _checked_until.clear()
    _checked_until[url] = now + CHECK_TTL
    return url


def read_capped(response, limit=MAX_BODY_BYTES):
    """Read at most ``limit`` bytes of a streamed response and close it.

    Returns (bytes, truncated). The body is stored on the response so
    ``response.content``/``.json()`` work afterwards.
    """
    try:
        data = response.raw.read(limit + 1, decode_content=True)
    finally:
        response.close()
    truncated = len(data) > limit
    data = data[:limit]
    response._content = data  # requests' own cache of the body
    response._content_consumed = True
    return data, truncated


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
