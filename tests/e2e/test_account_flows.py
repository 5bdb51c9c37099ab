"""Accounts and confirmations in a real browser: password change and reset links, new teams,
confirm pages (also without JavaScript), long values on a phone, and axe on every new page."""

import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from provisioning.bulk import jobs
from provisioning.bulk.models import BulkJob, BulkRow, JobStatus, RowState, SecretOrigin, seal_secret
from provisioning.models import ExternalIdentity, Invitation, Membership, Role, Team
from tests.bulk.conftest import csv_bytes, device_rows, make_draft
from tests.conftest import PASSWORD
from tests.e2e.conftest import ERROR_STATUS, VIEWPORT, expect, format_violations

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "Quiet-Harbour-Lantern-42"
LONG_EMAIL = (
    "a.very.long.mailbox.name.that.goes.on.and.on.without.a.break@subdomain.long-company-name.example"
)
LONG_NAME = "Averyveryverylongteamnamewithoutanyspacesatallthatwouldwidenthepageofaphone-Provisioning-North"
PHONE = {"width": 390, "height": 844}


def field(page, label):
    """The form control labelled ``label``; required fields' labels end in " *"."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}( \*)?$"))


def signed_in_as(page, server, user):
    """Give the browser a session of ``user`` (for accounts without a password to type)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": server.url}])


def queued_job(team, user, namespace):
    job = make_draft(team, user, namespace.client, namespace, csv_bytes(device_rows(3)))
    jobs.start(job, user, run_in_worker=False)
    return job


def finished_job_with_unknown_rows(team, user, namespace):
    job = queued_job(team, user, namespace)
    for row in BulkRow.objects.filter(job=job):
        row.state = RowState.UNKNOWN
        row.secret_origin = SecretOrigin.GENERATED
        row.secret_sealed = seal_secret(job.public_id, row.line, f"Generated-{row.line}-Pass")
        row.save()
    BulkJob.objects.filter(pk=job.pk).update(status=JobStatus.DONE)
    return job


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations_on_the_account_pages(
    page, login, server, admin_a, operator_a, namespace_a, scheme, shot, axe, browser_errors
):
    page.emulate_media(color_scheme=scheme)
    team = namespace_a.team
    found = {}

    def check(name):
        expect(page.get_by_role("heading", level=1).first).to_be_visible()
        shot(page, f"accounts-{scheme}-{name}")
        found[name] = axe(page)

    login(page, admin_a)
    page.get_by_role("link", name="Change password").click()
    check("password-change")
    field(page, "Old password").fill("not-it")
    field(page, "New password").fill("short")
    field(page, "New password confirmation").fill("short")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".field .error").first).to_be_visible()
    check("password-change-errors")

    page.goto("/t/team-a/members/")
    field(page, "Email").fill(LONG_EMAIL)
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_role("heading", name=f"Invitation link for {LONG_EMAIL}")).to_be_visible()
    check("members-invited")
    page.get_by_role("button", name="Send password reset link to oscar").click()
    expect(page.get_by_text("A link to set a new password was e-mailed to oscar@example.com")).to_be_visible()
    check("members-reset-sent")

    oscar = Membership.objects.get(user=operator_a)
    page.goto(f"/t/team-a/members/{oscar.pk}/remove/")
    check("member-remove")
    page.goto(f"/t/team-a/namespaces/{namespace_a.pk}/delete/")
    check("namespace-remove")
    job = queued_job(team, admin_a, namespace_a)
    page.goto(f"/t/team-a/bulk/{job.pk}/cancel/")
    check("bulk-cancel")
    done = finished_job_with_unknown_rows(team, admin_a, namespace_a)
    page.goto(f"/t/team-a/bulk/{done.pk}/credentials/")
    expect(page.get_by_text("This also ends “Send the unknown rows again” for 3 rows")).to_be_visible()
    check("bulk-credentials")

    # The e-mailed link, opened signed out.
    (link,) = re.findall(r"https?://[^/\s]+(/accounts/reset/\S+/)", mail.outbox[-1].body)
    page.get_by_role("button", name="Log out").click()
    page.goto(link)
    check("reset-form")
    field(page, "New password").fill(NEW_PASSWORD)
    field(page, "New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your password is set")
    check("reset-done")
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link does not work")
    check("reset-used")

    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    login(page, get_user_model().objects.get(username="root"))
    page.get_by_role("link", name="New team").click()
    check("team-new")
    page.get_by_role("button", name="Create team").click()
    expect(page.locator(".field .error")).to_be_visible()
    check("team-new-errors")

    # Someone the identity provider signed in has no password here.
    dora = get_user_model().objects.create_user("dora", "dora@corp.example", None)
    ExternalIdentity.objects.create(user=dora, issuer="https://sso.example", subject="dora")
    Membership.objects.create(user=dora, team=team, role=Role.OPERATOR)
    page.context.clear_cookies()
    signed_in_as(page, server, dora)
    page.goto("/t/team-a/")
    expect(page.get_by_role("link", name="Change password")).to_have_count(0)
    page.goto("/accounts/password/")
    check("password-change-unavailable")

    print(f"axe checked {len(found)} pages ({scheme}): {'; '.join(found)}")
    report = "\n".join(f"{name}:\n{format_violations(v)}" for name, v in found.items() if v)
    assert not report, f"axe found violations ({scheme} mode):\n{report}"
    assert len(found) == 14
    assert [e for e in browser_errors if not ERROR_STATUS.match(e)] == []


def test_a_superuser_creates_a_team_and_lands_on_it(page, login, shot, browser_errors):
    root = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    login(page, root)
    expect(page.get_by_role("heading", level=1)).to_have_text("You are not in a team yet")
    page.get_by_role("link", name="create a team").click()
    field(page, "Name").fill("ACME Sensors")
    page.get_by_role("button", name="Create team").click()

    expect(page).to_have_url(re.compile(r"/t/acme-sensors/$"))
    expect(page.get_by_text("Team ACME Sensors created; you are its admin.")).to_be_visible()
    expect(page.get_by_role("link", name="Members")).to_be_visible()
    assert Membership.objects.get(team__slug="acme-sensors").user == root
    shot(page, "team-created")
    assert browser_errors == []


def test_confirmations_work_without_javascript(browser, server, admin_a, operator_a, namespace_a):
    """No script at all: the links lead to confirm pages, whose buttons act."""
    context = browser.new_context(base_url=server.url, viewport=VIEWPORT, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/accounts/login/")
        field(page, "Username").fill(admin_a.username)
        field(page, "Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()

        page.goto("/t/team-a/namespaces/")
        page.get_by_role("link", name="Remove com.acme.sensors").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Remove the namespace com.acme.sensors?")
        page.get_by_role("button", name="Remove com.acme.sensors").click()
        expect(page.get_by_text("Namespace com.acme.sensors removed.")).to_be_visible()

        page.goto("/t/team-a/members/")
        page.get_by_role("link", name="Remove oscar").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Remove oscar from Team A?")
        page.get_by_role("link", name="Cancel").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Members of Team A")
        assert Membership.objects.filter(user=operator_a).exists()
        page.get_by_role("link", name="Remove oscar").click()
        page.get_by_role("button", name="Remove oscar").click()
        expect(page.get_by_text("oscar was removed from the team.")).to_be_visible()
        assert not Membership.objects.filter(user=operator_a).exists()
    finally:
        context.close()


def test_cancelling_a_bulk_job_asks_first(page, login, admin_a, namespace_a, browser_errors):
    job = queued_job(namespace_a.team, admin_a, namespace_a)
    login(page, admin_a)
    page.goto(f"/t/team-a/bulk/{job.pk}/")
    page.get_by_role("link", name="Cancel the job…").click()
    expect(page.get_by_text("the 3 rows not sent yet are not sent")).to_be_visible()
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    page.get_by_role("button", name="Cancel the job").click()
    expect(page.get_by_role("heading", name="Cancelled")).to_be_visible()
    assert browser_errors == []


def test_long_values_never_widen_a_page_on_a_phone(page, login, admin_a, team_a, shot, browser_errors):
    Team.objects.filter(pk=team_a.pk).update(name=LONG_NAME)
    long_user = get_user_model().objects.create_user(LONG_EMAIL[:150], LONG_EMAIL, PASSWORD)
    Membership.objects.create(user=long_user, team=team_a, role=Role.OPERATOR)
    _, token = Invitation.issue(team=team_a, email=LONG_EMAIL.replace("a.very", "b.very"), role=Role.AUDITOR)
    page.set_viewport_size(PHONE)
    login(page, admin_a)
    member = Membership.objects.get(user=long_user)
    pages = {
        "overview": "/t/team-a/",
        "members": "/t/team-a/members/",
        "member-remove": f"/t/team-a/members/{member.pk}/remove/",
        "password-change": "/accounts/password/",
    }
    widths = {}
    for name, path in pages.items():
        page.goto(path)
        expect(page.get_by_role("heading", level=1).first).to_be_visible()
        shot(page, f"phone-long-{name}")
        widths[name] = page.evaluate("document.documentElement.scrollWidth")
    page.get_by_role("button", name="Log out").click()
    page.goto(f"/invitations/{token}/")
    widths["invitation"] = page.evaluate("document.documentElement.scrollWidth")
    assert widths == dict.fromkeys(widths, PHONE["width"])
    assert browser_errors == []
