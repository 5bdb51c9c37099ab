"""Test connection on a connection, against the sandbox's token endpoint over HTTP."""

import re

import pytest

from provisioning.models import AuditEvent, Connection
from provisioning.sandbox import knobs
from tests.provider import make_config
from tests.workflow import sandbox_config, tenant, text  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


def url(config):
    return f"/t/team-a/connections/{config.pk}/test/"


def test_it_shows_the_granted_scope_and_claims(as_user, cast, sandbox_config):  # noqa: F811
    response = as_user(cast["admin"]).post(url(sandbox_config))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Connected." in html
    assert sandbox_config.scope.split()[0] in html
    assert "decoded, not verified" in html and "UTC)" in html  # exp/iat as dates
    sandbox_config.refresh_from_db()
    assert sandbox_config.last_success_at is not None
    assert AuditEvent.objects.get(action="client.test").status == "ok"


def test_htmx_gets_only_the_result(as_user, cast, sandbox_config):  # noqa: F811
    response = as_user(cast["operator"]).post(url(sandbox_config), HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert 'id="connection-test"' in html and "<html" not in html
    assert "Connected." in html


def test_a_refused_secret_is_shown_and_kept_on_the_configuration(as_user, cast, sandbox_config):  # noqa: F811
    sandbox_config.set_secret("not-the-right-secret")
    sandbox_config.save()

    response = as_user(cast["admin"]).post(url(sandbox_config))

    html = response.content.decode()
    assert "The connection test failed." in html
    assert "refused the client id or secret" in html
    assert "not-the-right-secret" not in html
    assert "refused the client id or secret" in Connection.objects.get(pk=sandbox_config.pk).last_error


def test_it_bypasses_the_token_cache(as_user, cast, sandbox_config):  # noqa: F811
    client = as_user(cast["admin"])
    knobs.reset_counters()

    client.post(url(sandbox_config))
    client.post(url(sandbox_config))

    assert knobs.token_count() == 2


def test_an_auditor_cannot_test(as_user, cast, sandbox_config):  # noqa: F811
    response = as_user(cast["auditor"]).post(url(sandbox_config))

    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="client.test").exists()


def test_get_is_not_allowed(as_user, cast, sandbox_config):  # noqa: F811
    assert as_user(cast["admin"]).get(url(sandbox_config)).status_code == 405


@pytest.mark.parametrize(
    ("answer", "words", "not_words"),
    [
        (
            (500, {"error": "server_error"}),
            ["token endpoint is unavailable (HTTP 500)", "has a problem of its own"],
            ["client id", "secret"],
        ),
        (
            (401, {"error": "invalid_client"}),
            ["refused the client id or secret", "Check the client id and secret"],
            ["problem of its own"],
        ),
    ],
    ids=["token endpoint 500", "invalid_client"],
)
def test_a_failure_names_the_step_and_url_and_a_next_step_that_fits(
    as_user, cast, team_a, httpserver, answer, words, not_words
):
    status, body = answer
    httpserver.expect_request("/token", method="POST").respond_with_json(body, status=status)
    config = make_config(team_a, httpserver)

    html = text(as_user(cast["admin"]).post(url(config), HTTP_HX_REQUEST="true"))  # the result alone
    html = re.sub(
        r'<dl class="facts" id="config-status".*?</dl>', "", html, flags=re.S
    )  # the status, updated

    assert "The connection test failed." in html
    assert f"Step that failed: the token request to {config.token_url}." in html
    for phrase in words:
        assert phrase in html
    for phrase in not_words:
        assert phrase not in html
