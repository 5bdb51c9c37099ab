"""The HTTP choke point: every request to a token endpoint or the provisioning API
goes through here, with fixed timeouts, redirects off, the outbound URL check, the
CA certificates to trust, and a cap on how much of a response body is read.
"""

import atexit
import functools
import json
import os
import ssl
import tempfile
import threading
import time
from urllib.parse import urlsplit

import certifi
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


def trusted_cas():
    """requests' ``verify=`` for every outbound call.

    True (requests' default: certifi's bundle) unless OUTBOUND_CA_BUNDLE is set; then the
    path of a file holding certifi's bundle followed by OUTBOUND_CA_BUNDLE, so a private CA
    (a TLS-inspecting proxy, a company PKI) is trusted in addition to the public ones.
    """
    extra = settings.OUTBOUND_CA_BUNDLE
    return joined_bundle(certifi.where(), extra) if extra else True


@functools.lru_cache(maxsize=4)
def joined_bundle(default, extra):
    """A private temporary file (mode 0600, a name nobody can guess) holding both PEM files.

    Made once per process and pair of paths, removed when the process exits: a changed
    OUTBOUND_CA_BUNDLE file is read again after a restart.
    """
    with open(default, "rb") as first, open(extra, "rb") as second:
        pem = first.read().rstrip(b"\n") + b"\n" + second.read()
    handle, path = tempfile.mkstemp(prefix="provisioner-ca-", suffix=".pem")
    with os.fdopen(handle, "wb") as out:
        out.write(pem)
    atexit.register(os.remove, path)
    return path


def checked(url, step):
    """The URL, if it may be called now: checked at every call, with DNS (see outbound.check_url)."""
    try:
        check_url(url, resolve=True)
    except UnsafeURL as exc:
        raise ConfigurationError(f"Refused to call this URL: {exc}", step=step, url=url) from None
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


def causes(exc):
    """``exc`` and what it wraps: requests keeps urllib3's error in ``args``, whose ``reason``
    (MaxRetryError) or ``args`` (SSLError) hold the cause underneath."""
    for _ in range(5):
        yield exc
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        if inner is None:
            return
        exc = inner


def certificate_refused(exc):
    """The ssl.SSLCertVerificationError under ``exc`` (the handshake refused the server's
    certificate, so nothing was sent), or None."""
    return next((e for e in causes(exc) if isinstance(e, ssl.SSLCertVerificationError)), None)


def is_connect_failure(exc):
    """True when the request surely never reached the server (it may be sent again)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout) or certificate_refused(exc):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        return any(isinstance(e, urllib3.exceptions.NewConnectionError) for e in causes(exc))
    return False


# OpenSSL's verify codes (X509_V_ERR_*) that need another next step than "trust its CA".
CERT_HAS_EXPIRED = 10
NAME_MISMATCHES = {62, 64}  # host name, IP address


def certificate_words(exc, url):
    """(message, next step) in plain words for a certificate the server presented and this
    server refused, naming the host; None when ``exc`` is not about a certificate."""
    refused = certificate_refused(exc)
    if refused is None:
        return None
    host = urlsplit(url).hostname
    detail = refused.verify_message or "certificate verify failed"
    if refused.verify_code in NAME_MISMATCHES:
        return (
            f"The server's certificate does not name {host} ({detail}).",
            "Check the host in the URL: it must be a name the server's certificate is issued for.",
        )
    if refused.verify_code == CERT_HAS_EXPIRED:
        return (
            f"The server's certificate for {host} has expired.",
            "The server's operators must renew its certificate; nothing on this side can fix it.",
        )
    return (
        f"The server's certificate is not trusted: {host} presented a certificate that no trusted CA "
        f"signed ({detail}).",
        "Set OUTBOUND_CA_BUNDLE to a PEM file with the CA certificate that issued it (ask whoever runs "
        "the proxy or the PKI), restart, then use Test connection.",
    )
