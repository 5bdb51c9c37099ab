"""The per-user theme: <html data-theme> from the user's preference, set by the header's control."""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from provisioning.models import Preference
from tests.conftest import PASSWORD, login_client
from tests.views import assert_redirects_to_login

pytestmark = pytest.mark.django_db

URL = "/account/theme/"


def html_tag(response):
    return re.search(r"<html\b[^>]*>", response.content.decode()).group(0)


def pressed(response):
    """The value of the theme button marked as pressed."""
    html = response.content.decode()
    return re.findall(r'<button type="submit" name="theme" value="(\w+)"[^>]* aria-pressed="true">', html)


def test_the_url_is_account_theme():
    from django.urls import reverse

    assert reverse("theme") == URL


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_requests_go_to_the_login_page(client, method):
    response = getattr(client, method)(URL, {"theme": "dark"} if method == "post" else None)
    assert_redirects_to_login(response, URL)
    assert not Preference.objects.exists()


def test_a_get_is_not_allowed(as_user, cast):
    assert as_user(cast["admin"]).get(URL).status_code == 405


def test_without_a_choice_every_page_follows_the_system(as_user, cast):
    response = as_user(cast["admin"]).get("/t/team-a/")
    assert "data-theme" not in html_tag(response)
    assert '<meta name="color-scheme" content="light dark">' in response.content.decode()
    assert pressed(response) == ["system"]


def test_the_header_control_is_a_labelled_csrf_protected_form(as_user, cast):
    html = as_user(cast["operator"]).get("/t/team-a/history/?q=x").content.decode()
    form = re.search(r'<form method="post" action="/account/theme/".*?</form>', html, re.S).group(0)
    assert 'name="csrfmiddlewaretoken"' in form
    assert 'name="next"' not in form  # the way back is the Referer: pages do not echo their URL
    assert 'role="group" aria-label="Theme"' in form
    buttons = re.findall(
        r'<button type="submit" name="theme" value="(\w+)".*?<span class="visually-hidden">(\w+)</span>', form
    )
    assert buttons == [("system", "System"), ("light", "Light"), ("dark", "Dark")]
    assert form.count('aria-pressed="true"') == 1


@pytest.mark.parametrize("choice", ["light", "dark"])
def test_the_choice_is_saved_and_the_user_goes_back(as_user, cast, choice):
    client = as_user(cast["admin"])
    response = client.post(URL, {"theme": choice, "next": "/t/team-a/history/?q=abc"})
    assert response.status_code == 302
    assert response["Location"] == "/t/team-a/history/?q=abc"
    assert Preference.objects.get(user=cast["admin"]).theme == choice

    page = client.get("/t/team-a/")
    assert f'data-theme="{choice}"' in html_tag(page)
    assert f'<meta name="color-scheme" content="{choice}">' in page.content.decode()
    assert pressed(page) == [choice]


def test_back_to_system_drops_the_attribute(as_user, cast):
    client = as_user(cast["admin"])
    client.post(URL, {"theme": "dark"})
    client.post(URL, {"theme": "system"})
    assert Preference.objects.filter(user=cast["admin"]).count() == 1
    assert Preference.objects.get(user=cast["admin"]).theme == "system"
    assert "data-theme" not in html_tag(client.get("/t/team-a/"))


def test_the_choice_is_per_user(client, cast):
    login_client(client, cast["admin"]).post(URL, {"theme": "dark"})
    client.logout()

    other = login_client(Client(), cast["operator"])
    page = other.get("/t/team-a/")
    assert "data-theme" not in html_tag(page)
    assert pressed(page) == ["system"]
    assert not Preference.objects.filter(user=cast["operator"]).exists()

    other.post(URL, {"theme": "light"})
    assert dict(Preference.objects.values_list("user__username", "theme")) == {
        "alice": "dark",
        "oscar": "light",
    }


def test_it_survives_logging_out_and_in_again(client, cast):
    login_client(client, cast["auditor"]).post(URL, {"theme": "dark"})
    client.logout()
    assert client.post("/accounts/login/", {"username": "audrey", "password": PASSWORD}).status_code == 302
    assert 'data-theme="dark"' in html_tag(client.get("/t/team-a/"))


@pytest.mark.parametrize("value", ["", "purple", "DARK", "dark ", "system;light", "x" * 5000])
def test_a_bad_value_is_refused_with_a_message(as_user, cast, value):
    client = as_user(cast["admin"])
    client.post(URL, {"theme": "light"})
    response = client.post(URL, {"theme": value, "next": "/t/team-a/connections/"})
    assert response.status_code == 302
    assert response["Location"] == "/t/team-a/connections/"
    assert Preference.objects.get(user=cast["admin"]).theme == "light"  # unchanged
    page = client.get(response["Location"])
    assert page.status_code == 200
    expected = "Choose a theme" if not value else "There is no such theme"
    assert expected in page.content.decode()
    assert "System, Light or Dark." in page.content.decode()


def test_a_missing_value_is_refused_with_a_message(as_user, cast):
    client = as_user(cast["admin"])
    response = client.post(URL, {"next": "/t/team-a/"}, follow=True)
    assert response.status_code == 200
    assert "Choose a theme: System, Light or Dark." in response.content.decode()
    assert not Preference.objects.exists()


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/path",
        "http://evil.example",
        "javascript:alert(1)",
        "https://testserver.evil.example/",
        "\\\\evil.example",
        "/\\evil.example",
    ],
)
def test_an_unsafe_next_is_ignored(as_user, cast, target):
    response = as_user(cast["admin"]).post(URL, {"theme": "dark", "next": target})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert Preference.objects.get(user=cast["admin"]).theme == "dark"


def test_without_next_or_referer_the_user_goes_home(as_user, cast):
    response = as_user(cast["admin"]).post(URL, {"theme": "dark"})
    assert response["Location"] == "/"


def test_without_next_the_user_goes_back_to_the_referring_page(as_user, cast):
    referer = "http://testserver/t/team-a/history/?q=com.acme&status=created"
    response = as_user(cast["admin"]).post(URL, {"theme": "dark"}, HTTP_REFERER=referer)
    assert response.status_code == 302
    assert response["Location"] == "/t/team-a/history/?q=com.acme&status=created"


@pytest.mark.parametrize(
    "referer",
    [
        "https://evil.example/t/team-a/",
        "http://testserver.evil.example/",
        "http://testserver//evil.example/",
        "http://testserver/\\evil.example/",
        "not a url at all",
        "javascript:alert(1)",
    ],
)
def test_an_unsafe_referer_is_ignored(as_user, cast, referer):
    response = as_user(cast["admin"]).post(URL, {"theme": "dark"}, HTTP_REFERER=referer)
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_a_bad_value_goes_back_to_the_referring_page_with_the_message(as_user, cast):
    client = as_user(cast["admin"])
    response = client.post(URL, {"theme": "pink"}, HTTP_REFERER="http://testserver/t/team-a/namespaces/")
    assert response["Location"] == "/t/team-a/namespaces/"
    assert "There is no such theme" in client.get(response["Location"]).content.decode()


def test_htmx_gets_no_content_and_an_event(as_user, cast):
    response = as_user(cast["admin"]).post(
        URL, {"theme": "dark", "next": "/t/team-a/"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 204
    assert json.loads(response["HX-Trigger"]) == {"theme-changed": {"theme": "dark"}}
    assert Preference.objects.get(user=cast["admin"]).theme == "dark"


def test_htmx_with_a_bad_value_gets_400_and_the_message(as_user, cast):
    response = as_user(cast["admin"]).post(URL, {"theme": "neon"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "There is no such theme" in response.content.decode()
    assert not Preference.objects.exists()


def test_the_post_needs_a_csrf_token(cast):
    client = login_client(Client(enforce_csrf_checks=True), cast["admin"])
    assert client.post(URL, {"theme": "dark"}).status_code == 403
    assert not Preference.objects.exists()


def test_a_user_without_a_team_can_choose_too(client):
    user = get_user_model().objects.create_user("loner", "loner@example.com", PASSWORD)
    login_client(client, user)
    assert client.post(URL, {"theme": "dark", "next": "/"}).status_code == 302
    page = client.get("/")
    assert page.status_code == 200
    assert 'data-theme="dark"' in html_tag(page)


def test_anonymous_pages_follow_the_system(client, cast):
    login_client(Client(), cast["admin"]).post(URL, {"theme": "dark"})
    page = client.get("/accounts/login/")
    assert "data-theme" not in html_tag(page)
    assert "theme-switch" not in page.content.decode()


def test_deleting_the_user_deletes_the_preference(as_user, cast):
    as_user(cast["admin"]).post(URL, {"theme": "dark"})
    cast["admin"].delete()
    assert not Preference.objects.exists()


def test_htmx_partials_do_not_read_the_preference(as_user, cast, django_assert_num_queries):
    """The preference is read lazily: only pages that render the header pay for the query."""
    from django.template import RequestContext, Template
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = cast["admin"]
    context = RequestContext(request, {})
    with django_assert_num_queries(0):
        Template("{{ 1 }}").render(context)
    with django_assert_num_queries(1):
        assert Template("{{ theme }}").render(context) == "system"


@pytest.mark.parametrize("chosen", [None, "dark"])
def test_a_page_reads_the_theme_once(as_user, cast, chosen):
    """The preference is read once per page, however often the page shows it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = as_user(cast["admin"])
    if chosen:
        client.post(URL, {"theme": chosen})
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/t/team-a/")

    assert pressed(page) == [chosen or "system"]
    touching = [q["sql"] for q in queries if '"provisioning_preference"' in q["sql"]]
    assert len(touching) == 1, touching
