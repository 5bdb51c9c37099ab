"""Which URLs the server may call (the check used by forms and before every request), and
which extra CA certificates it trusts when it calls them."""

import ipaddress
import socket
from urllib.parse import urlsplit

from cryptography import x509
from django.conf import settings

# Cloud metadata endpoints that are not link-local addresses.
METADATA_HOSTS = {
    "metadata.google.internal",
    "metadata",
    "100.100.100.200",  # Alibaba Cloud
    "fd00:ec2::254",  # AWS over IPv6
}


class UnsafeURL(ValueError):
    """The URL may not be called; the message says why in plain words."""


def _refused_address(address):
    ip = ipaddress.ip_address(address)
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    return ip.is_link_local or str(ip) in METADATA_HOSTS


def _is_legacy_ipv4(host):
    """True for a host that C's inet_aton reads as an IPv4 address (octal, hex, short forms)."""
    try:
        socket.inet_aton(host)
    except (OSError, ValueError):
        return False
    return True


def check_url(url, *, resolve=False):
    """Raise UnsafeURL unless ``url`` may be called; return the URL unchanged.

    https is required, except for hosts listed in OUTBOUND_ALLOWED_HOSTS. URLs with
    a user name or password are refused (credentials belong in the connection),
    and so are link-local and cloud-metadata addresses, whatever the allow-list says.
    With ``resolve``, the host name is looked up and every address it resolves to
    is checked too.
    """
    try:
        parts = urlsplit(url)
        # "metadata.google.internal." is the same host as without the final dot.
        host = (parts.hostname or "").lower().rstrip(".")
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UnsafeURL("This is not a valid URL.") from None
    if parts.scheme not in ("https", "http") or not host:
        raise UnsafeURL("Enter a full URL starting with https://.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("The URL may not contain a user name or password.")
    if parts.fragment:
        raise UnsafeURL("The URL may not contain a '#' fragment.")
    if host in METADATA_HOSTS:
        raise UnsafeURL("Cloud metadata addresses are never called.")
    # UnsafeURL is a ValueError: decide first, raise outside the try, or the refusal is swallowed.
    try:
        refused = _refused_address(host)
    except ValueError:  # a name, not an address
        refused = None
    if refused:
        raise UnsafeURL("Link-local and metadata addresses are never called.")
    if refused is None and _is_legacy_ipv4(host):
        # "2852039166", "0xa9fea9fe" or "169.254.43518" reach 169.254.169.254.
        raise UnsafeURL("Write an IPv4 address as four decimal numbers (like 192.0.2.10).")
    allowed = {h.lower() for h in settings.OUTBOUND_ALLOWED_HOSTS}
    if parts.scheme != "https" and host not in allowed:
        raise UnsafeURL(
            f"Use https. Plain http is only allowed for hosts in OUTBOUND_ALLOWED_HOSTS "
            f"({', '.join(sorted(allowed)) or 'none configured'})."
        )
    if resolve:
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            infos = []  # the request itself will fail with a connection error
        for info in infos:
            if _refused_address(info[4][0]):
                raise UnsafeURL(f"{host} resolves to a link-local or metadata address.")
    return url


def check_ca_bundle(path):
    """Raise ValueError, in plain words, unless ``path`` is a readable PEM file of certificates."""
    try:
        with open(path, "rb") as bundle:
            pem = bundle.read()
    except OSError as exc:
        raise ValueError(f"{path!r} cannot be read: {exc.strerror}.") from None
    try:
        x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise ValueError(
            f"{path!r} holds no PEM certificates (-----BEGIN CERTIFICATE----- blocks), or a broken one."
        ) from None
