"""Small helpers shared by the view tests."""

import re
from urllib.parse import quote

from django.urls import URLPattern, URLResolver, get_resolver

LOGIN = "/accounts/login/"


def request(client, method, url, data=None, **headers):
    """GET or POST; ``data`` is sent with a POST only (a GET keeps its URL as given)."""
    if method == "GET":
        return client.get(url, **headers)
    return client.post(url, data or {}, **headers)


def htmx_get(client, url, data=None, current_url=None):
    return client.get(
        url,
        data or {},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{current_url or url}",
    )


def assert_redirects_to_login(response, url):
    assert response.status_code == 302, response.status_code
    assert response["Location"] == f"{LOGIN}?next={quote(url)}"


def assert_is_partial(response, element_id):
    """An htmx partial: the element itself, without the page around it."""
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="{element_id}"' in html
    assert "<html" not in html and "<body" not in html and "site-header" not in html
    return html


def entry_steps(html):
    """The call lines of a multi-step attempt's history entry, in order, as they read:
    "Provision: device, before the call", "Provision: device", ..."""
    lines = re.findall(r"<summary><strong>([^<]+)</strong>([^<]*)<span", html)
    return [name + after.rstrip() for name, after in lines]


def routes(patterns=None, prefix=""):
    """Every URL pattern of the project, as its route text (``t/<slug:team_slug>/...``)."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)
