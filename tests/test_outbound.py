"""Which URLs the server may call (provisioning.outbound.check_url)."""

import socket

import pytest

from provisioning.outbound import UnsafeURL, check_url


@pytest.fixture(autouse=True)
def allow_localhost(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1", "localhost", "sandbox.internal"]


@pytest.mark.parametrize(
    "url",
    [
        "https://access.bosch-iot-suite.com/token",
        "https://deviceprovisioning.eu-1.bosch-iot-suite.com/api/1",
        "https://portal.bosch-nexeed.com/iam/access-management/v1/tenants/t-1/openid-connect/token",
        "https://example.com:8443/path?q=1",
        "http://127.0.0.1:8000/sandbox/token",
        "http://localhost/sandbox",
        "http://SANDBOX.internal/token",
    ],
)
def test_it_accepts_https_and_allowed_http_hosts(url):
    assert check_url(url) == url


@pytest.mark.parametrize(
    "url", ["http://access.bosch-iot-suite.com/token", "http://10.0.0.5/token", "http://example.com"]
)
def test_it_refuses_plain_http_to_other_hosts(url):
    with pytest.raises(UnsafeURL, match="Use https"):
        check_url(url)


def test_the_refusal_lists_the_allowed_hosts(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    with pytest.raises(UnsafeURL, match="none configured"):
        check_url("http://127.0.0.1/token")


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pass@access.bosch-iot-suite.com/token",
        "https://user@access.bosch-iot-suite.com/token",
        "https://:pass@access.bosch-iot-suite.com/token",
    ],
)
def test_it_refuses_user_names_and_passwords_in_urls(url):
    with pytest.raises(UnsafeURL, match="user name or password"):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.1.1/",
        "https://[fe80::1]/",
        "https://[::ffff:169.254.169.254]/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://metadata.google.internal./computeMetadata/v1/",
        "https://METADATA/",
        "https://100.100.100.200/latest/meta-data/",
        "https://[fd00:ec2::254]/",
    ],
)
def test_it_always_refuses_link_local_and_metadata_addresses(settings, url):
    # Even if the operator allowed them by mistake.
    settings.OUTBOUND_ALLOWED_HOSTS = ["169.254.169.254", "metadata.google.internal", "fe80::1"]
    with pytest.raises(UnsafeURL, match=r"[Mm]etadata"):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    ["https://2852039166/", "https://0xa9fea9fe/", "https://169.254.43518/", "https://0251.0376.0251.0376/"],
)
def test_it_refuses_numeric_disguises_of_addresses(url):
    with pytest.raises(UnsafeURL, match="four decimal numbers"):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "access.bosch-iot-suite.com/token",
        "ftp://example.com/file",
        "file:///etc/passwd",
        "https://",
        "https://example.com:99999/",
        "https://example.com/token#fragment",
    ],
)
def test_it_refuses_what_is_not_a_callable_url(url):
    with pytest.raises(UnsafeURL):
        check_url(url)


def test_with_resolve_it_refuses_a_name_that_points_at_a_metadata_address(monkeypatch):
    # DNS is the dependency here, so it is the part replaced: the name "resolves" to 169.254.169.254.
    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    assert check_url("https://innocent.example.com/token") == "https://innocent.example.com/token"
    with pytest.raises(UnsafeURL, match="resolves to a link-local or metadata address"):
        check_url("https://innocent.example.com/token", resolve=True)


def test_with_resolve_a_name_of_a_normal_address_passes():
    assert check_url("http://localhost:8000/token", resolve=True)
