"""Content Security Policy: 'self' only, so no template may carry inline script or style."""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted(
    [*(ROOT / "templates").rglob("*.html"), *(ROOT / "provisioning").glob("**/templates/**/*.html")]
)

# Each pattern is something the policy would block in a browser.
FORBIDDEN = {
    "a <script> with inline code": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>\s*\S", re.I),
    "a <style> element": re.compile(r"<style\b", re.I),
    "a style= attribute": re.compile(r"\sstyle\s*=", re.I),
    "an inline event handler (on...=)": re.compile(r"<[^>]+\son[a-z]+\s*=", re.I),
    "a javascript: URL": re.compile(r"javascript:", re.I),
    "an hx-on attribute (needs eval)": re.compile(r"\shx-on[:-]", re.I),
}


def violations(html):
    return [name for name, pattern in FORBIDDEN.items() if pattern.search(html)]


def test_the_template_list_is_not_empty():
    assert len(TEMPLATES) >= 10


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_template_has_inline_script_or_style(path):
    assert violations(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        '<script type="module">\n  go()\n</script>',
        '<div style="color:red">',
        "<style>p{}</style>",
        '<button onclick="go()">',
        '<a href="javascript:go()">',
        '<div hx-on:click="go()">',
    ],
)
def test_the_scan_finds_what_the_policy_blocks(html):
    assert violations(html)


def test_the_scan_allows_script_files():
    assert violations('<script src="/static/js/app.js" defer></script>') == []


def test_responses_carry_a_self_only_policy(client):
    response = client.get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    directives = dict(
        (part.split()[0], part.split()[1:]) for part in (d.strip() for d in policy.split(";")) if part
    )
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy


def test_responses_forbid_framing_and_sniffing(client):
    response = client.get("/accounts/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_signed_in_pages_carry_the_policy_too(as_user, cast, config_a):
    response = as_user(cast["admin"]).get(f"/t/team-a/connections/{config_a.pk}/")
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    "url",
    [
        "/t/team-a/",
        "/t/team-a/connections/",
        "/t/team-a/connections/new/",
        "/t/team-a/namespaces/",
        "/t/team-a/members/",
    ],
)
def test_rendered_pages_have_no_inline_script_or_style(as_user, cast, url):
    # Also covers what template tags emit (htmx's script tag, widgets' attributes).
    response = as_user(cast["admin"]).get(url)
    assert response.status_code == 200
    assert violations(response.content.decode()) == []


def test_the_rendered_login_page_has_no_inline_script_or_style(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert violations(response.content.decode()) == []


def test_htmx_is_told_not_to_inject_its_indicator_style(client):
    html = client.get("/accounts/login/").content.decode()
    assert '"includeIndicatorStyles":false' in html
    assert re.search(r'<script src="/static/django_htmx/htmx-2\.min\.[0-9a-f]+\.js"', html)
