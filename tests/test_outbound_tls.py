"""Token and API calls over TLS to a provider whose certificate a private CA issued.

A throw-away CA and a server certificate for 127.0.0.1 are made here with the
``cryptography`` package; the scripted provider (pytest-httpserver) serves https with
them on loopback. Without OUTBOUND_CA_BUNDLE the handshake fails and the operator is
told so in plain words, with the host, the step and the URL; with it, Test connection
and Send work, and the public CAs (the default bundle) are still trusted beside it.
"""

import datetime
import ipaddress
import json
import re
import ssl

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pytest_httpserver import HTTPServer
from werkzeug import Response

from provisioning import tokens
from provisioning.errors import TokenError
from provisioning.models import AuditEvent, Namespace
from tests.provider import SID, TokenIssuer, api_requests, make_config, token_requests
from tests.workflow import NAMESPACE, send, text

pytestmark = pytest.mark.django_db

DEVICES = f"/api/1/{SID}/devices"
DEVICE_ID = f"{NAMESPACE}:boiler-0042"
TYPED = "Tls-Test-Password-5521"


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(path, cert):
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def make_ca(directory, common_name):
    """A CA certificate and key; its PEM file is ``directory/<common_name>.pem``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key, _pem(directory / f"{common_name}.pem", cert)


def server_context(directory, ca_cert, ca_key):
    """A TLS server context with a certificate for 127.0.0.1 that the CA issued."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("provider.test"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file = _pem(directory / "server.pem", cert)
    key_file = directory / "server-key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


@pytest.fixture
def private_ca(tmp_path):
    """(certificate, key, PEM path) of the CA that issued the provider's certificate."""
    return make_ca(tmp_path, "private-ca")


@pytest.fixture
def tls_provider(tmp_path, private_ca):
    """The scripted provider on https://127.0.0.1:<port>, its certificate issued by private_ca."""
    cert, key, _ = private_ca
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=server_context(tmp_path, cert, key))
    server.start()
    server.expect_request("/token", method="POST").respond_with_handler(TokenIssuer())
    server.expect_request(DEVICES, method="POST").respond_with_handler(created)
    yield server
    server.clear()
    server.stop()


def created(request):
    body = json.loads(request.data)
    body["hub"]["device"]["deviceId"] = body["id"]
    body["things"]["thing"].update(thingId=body["id"], policyId=body["id"])
    return Response(json.dumps(body), status=201, content_type="application/json")


def connection_test_url(config):
    return f"/t/team-a/connections/{config.pk}/test/"


def handshakes_refused(server):
    """No HTTP request reached the server: the handshake failed first."""
    return not server.log


def test_without_the_bundle_test_connection_says_the_certificate_is_not_trusted(
    as_user, cast, team_a, tls_provider
):
    config = make_config(team_a, tls_provider)

    page = text(as_user(cast["admin"]).post(connection_test_url(config)))
    result = re.search(r'<div id="connection-test".*?<div class="error-summary".*?</div>', page, re.S).group(
        0
    )

    assert "The connection test failed." in result
    assert "The server's certificate is not trusted: 127.0.0.1 presented a certificate" in result
    assert "Set OUTBOUND_CA_BUNDLE" in result
    assert f"Step that failed: the token request to {config.token_url}." in result
    assert "client id" not in result  # a certificate is not a credentials problem
    assert handshakes_refused(tls_provider)


def test_with_the_bundle_test_connection_connects(as_user, cast, team_a, tls_provider, private_ca, settings):
    settings.OUTBOUND_CA_BUNDLE = str(private_ca[2])
    config = make_config(team_a, tls_provider)

    page = text(as_user(cast["admin"]).post(connection_test_url(config)))

    assert "Connected." in page
    assert len(token_requests(tls_provider)) == 1


def test_with_the_bundle_send_creates_the_device(as_user, cast, team_a, tls_provider, private_ca, settings):
    settings.OUTBOUND_CA_BUNDLE = str(private_ca[2])
    config = make_config(team_a, tls_provider)
    namespace = Namespace.objects.create(team=team_a, name=NAMESPACE)

    response = send(as_user(cast["operator"]), config, namespace, password=TYPED)

    assert response.status_code == 201, text(response)
    assert len(token_requests(tls_provider)) == 1
    assert len(api_requests(tls_provider)) == 1


def test_without_the_bundle_send_names_the_token_step_and_sends_nothing(as_user, cast, team_a, tls_provider):
    config = make_config(team_a, tls_provider)
    namespace = Namespace.objects.create(team=team_a, name=NAMESPACE)

    page = text(send(as_user(cast["operator"]), config, namespace, password=TYPED))

    assert "Not sent to the provider" in page
    assert "certificate is not trusted: 127.0.0.1" in page
    assert f"Step that failed: the token request to {config.token_url}." in page
    assert "Set OUTBOUND_CA_BUNDLE" in page
    assert handshakes_refused(tls_provider)
    outcome = AuditEvent.objects.get(action="device.provision", phase=AuditEvent.Phase.OUTCOME)
    assert outcome.status == "failed" and "OUTBOUND_CA_BUNDLE" not in outcome.message


def test_an_untrusted_api_certificate_names_the_api_step_and_nothing_was_sent(
    as_user, cast, team_a, tls_provider, httpserver
):
    """The token endpoint is plain http on an allowed host; only the API is behind the private CA."""
    httpserver.expect_request("/token", method="POST").respond_with_handler(TokenIssuer())
    config = make_config(team_a, httpserver, api_base_url=tls_provider.url_for("/api/1"))
    namespace = Namespace.objects.create(team=team_a, name=NAMESPACE)

    page = text(send(as_user(cast["operator"]), config, namespace, password=TYPED))

    devices_url = tls_provider.url_for(DEVICES)
    assert "certificate is not trusted: 127.0.0.1" in page
    assert f"Step that failed: the API request to {devices_url}." in page
    assert "Outcome unknown" not in page  # the handshake failed: the request was never sent
    assert handshakes_refused(tls_provider)
    outcome = AuditEvent.objects.get(action="device.provision", phase=AuditEvent.Phase.OUTCOME)
    assert outcome.status == "failed"


def test_a_ca_that_did_not_issue_the_certificate_does_not_help(team_a, tls_provider, tmp_path, settings):
    settings.OUTBOUND_CA_BUNDLE = str(make_ca(tmp_path, "unrelated-ca")[2])
    config = make_config(team_a, tls_provider)

    with pytest.raises(TokenError, match="certificate is not trusted"):
        tokens.fetch_token(config)


def test_the_bundle_is_trusted_in_addition_to_the_default_one(
    team_a, tls_provider, private_ca, tmp_path, settings, monkeypatch
):
    """The private CA stands in for a public one in the default bundle; OUTBOUND_CA_BUNDLE names
    another CA. The provider is still trusted: the bundle adds to the default, it does not replace it."""
    monkeypatch.setattr(certifi, "where", lambda: str(private_ca[2]))
    settings.OUTBOUND_CA_BUNDLE = str(make_ca(tmp_path, "proxy-ca")[2])
    config = make_config(team_a, tls_provider)

    assert tokens.fetch_token(config).access_token == "tok-1"


def test_a_certificate_for_another_name_says_so(team_a, tls_provider, private_ca, settings):
    settings.OUTBOUND_CA_BUNDLE = str(private_ca[2])
    settings.OUTBOUND_ALLOWED_HOSTS = []
    config = make_config(
        team_a, tls_provider, token_url=tls_provider.url_for("/token").replace("127.0.0.1", "localhost")
    )

    with pytest.raises(TokenError) as refused:
        tokens.fetch_token(config)

    assert "does not name localhost" in refused.value.message
    assert "Check the host in the URL" in refused.value.next_step
