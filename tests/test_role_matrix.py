"""Who may do what, everywhere: every URL pattern x GET and POST x five kinds of visitor.

The URL patterns are read from the URLconf (admin, sandbox and bulk included), and
EXPECTED below holds the exact answer each visitor gets for each pattern and method:
the anonymous visitor, team A's admin, operator and auditor, and team B's admin
("other", asking for team A's pages). A route added to the URLconf without a row
here fails test_every_route_has_a_row; a row left behind by a removed route fails
test_every_row_is_a_route.

Route parameters are filled with real objects of team A (a connection,
a namespace, a created device's history entry, a finished bulk job, members,
invitations), so an "allowed" cell is a real 200 or redirect and not a 404 for
want of an object. POST bodies are invalid or harmless; deleting routes point at
spare objects. After every request the team's state is compared with the state
before it: only the cells listed in MUTATES may change anything.

Cells: a status code, LOGIN (302 to the log-in page with ?next= the URL asked for),
ADMIN_LOGIN (the same for the admin site's log-in page), or "302 <location>" ("301 <location>" for
a page that moved).
"""

import logging
import re
import uuid
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.utils import timezone

from provisioning import audit
from provisioning.bulk.models import BulkJob, JobStatus
from provisioning.models import (
    AuditEvent,
    Connection,
    DeviceTemplate,
    GroupMapping,
    Invitation,
    Membership,
    Namespace,
    OpenAttempt,
    Preference,
    Role,
    TemplateVersion,
)
from provisioning.sandbox.models import DittoThing, Fault, HonoDevice
from tests.bulk.conftest import csv_bytes, device_rows, make_draft
from tests.factories import make_config, make_template
from tests.provider import SID
from tests.views import routes

pytestmark = pytest.mark.django_db

ROLES = ("anon", "admin", "operator", "auditor", "other")
METHODS = ("GET", "POST")
LOGIN = "login"
ADMIN_LOGIN = "admin-login"


def cells(anon, admin, operator, auditor, other):
    return dict(zip(ROLES, (anon, admin, operator, auditor, other), strict=True))


def same(value):
    return cells(value, value, value, value, value)


# --- the table ----------------------------------------------------------------------------

TEAM_PAGE = "302 /t/team-a/"
ADMIN_ONLY = {"GET": same(ADMIN_LOGIN), "POST": same(ADMIN_LOGIN)}
# Every model admin has the same six URLs, and the same answer for our cast (nobody is staff).
ADMIN_MODELS = [
    "auth/group",
    "auth/user",
    "axes/accessattempt",
    "axes/accesslog",
    "axes/accessfailurelog",
    "django_tasks_database/dbtaskresult",
    "provisioning/team",
    "provisioning/connection",
    "provisioning/namespace",
    "provisioning/invitation",
    "provisioning/auditevent",
    "sandbox/serviceinstance",
    "sandbox/sandboxclient",
    "sandbox/hubdevice",
    "sandbox/hubcredentials",
    "sandbox/thing",
    "sandbox/policy",
    "sandbox/basicuser",
    "sandbox/honotenant",
    "sandbox/honodevice",
    "sandbox/honocredential",
    "sandbox/dittothing",
    "sandbox/dittopolicy",
]


def model_admin_rows(model):
    return {
        f"admin/{model}/": ADMIN_ONLY,
        f"admin/{model}/add/": ADMIN_ONLY,
        f"admin/{model}/<path:object_id>/history/": ADMIN_ONLY,
        f"admin/{model}/<path:object_id>/delete/": ADMIN_ONLY,
        f"admin/{model}/<path:object_id>/change/": ADMIN_ONLY,
        f"admin/{model}/<path:object_id>/": ADMIN_ONLY,  # redirects to change/, for staff
    }


EXPECTED = {
    # Public, and the same for everyone.
    "healthz": {"GET": same(200), "POST": same(405)},
    "accounts/login/": {
        "GET": cells(200, "302 /", "302 /", "302 /", "302 /"),
        "POST": cells(200, "302 /", "302 /", "302 /", "302 /"),
    },
    "accounts/logout/": {"GET": same(405), "POST": same("302 /accounts/login/")},
    # One's own password (the POST's form is refused with its errors shown).
    "accounts/password/": {"GET": cells(LOGIN, 200, 200, 200, 200), "POST": cells(LOGIN, 200, 200, 200, 200)},
    # Where an e-mailed reset link leads: for anyone holding one (here a made-up one, so it says so).
    "accounts/reset/<uidb64>/<token>/": {"GET": same(200), "POST": same(200)},
    "accounts/reset/done/": {"GET": same(200), "POST": same(405)},
    # Sign-in with the identity provider, which is down here (see ``world``): a page saying so.
    "accounts/oidc/login/": {
        "GET": cells(502, "302 /", "302 /", "302 /", "302 /"),
        "POST": same(405),
    },
    "accounts/oidc/callback/": {"GET": same(502), "POST": same(405)},
    "invitations/<str:token>/": {"GET": same(200), "POST": same(200)},
    # Signed in, no team in the URL.
    "": {
        "GET": cells(LOGIN, TEAM_PAGE, TEAM_PAGE, TEAM_PAGE, "302 /t/team-b/"),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    # New teams are made by superusers (none of this cast is one).
    "teams/new/": {"GET": cells(LOGIN, 403, 403, 403, 403), "POST": cells(LOGIN, 403, 403, 403, 403)},
    "account/theme/": {
        "GET": cells(LOGIN, 405, 405, 405, 405),
        "POST": cells(LOGIN, "302 /", "302 /", "302 /", "302 /"),
    },
    # The team's pages. A method a view does not serve is refused (405) before the team is
    # looked up, so "other" gets 405 there too: nothing about team A is revealed either way.
    "t/<slug:team_slug>/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/connections/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/connections/new/": {
        "GET": cells(LOGIN, 200, 403, 403, 404),
        "POST": cells(LOGIN, 200, 403, 403, 404),
    },
    "t/<slug:team_slug>/connections/<int:pk>/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 200, 403, 403, 404),
    },
    "t/<slug:team_slug>/connections/<int:pk>/delete/": {
        "GET": cells(LOGIN, 200, 403, 403, 404),
        "POST": cells(LOGIN, "302 /t/team-a/connections/", 403, 403, 404),
    },
    "t/<slug:team_slug>/connections/<int:pk>/test/": {
        "GET": cells(LOGIN, 405, 405, 405, 405),
        "POST": cells(LOGIN, 200, 200, 403, 404),
    },
    # The paths of connections before they were called so: a permanent redirect for everyone,
    # to the page that answers as the rows above.
    "t/<slug:team_slug>/clients/": {
        "GET": same("301 /t/team-a/connections/"),
        "POST": same("301 /t/team-a/connections/"),
    },
    "t/<slug:team_slug>/clients/new/": {
        "GET": same("301 /t/team-a/connections/new/"),
        "POST": same("301 /t/team-a/connections/new/"),
    },
    "t/<slug:team_slug>/clients/<int:pk>/": {
        "GET": same("301 /t/team-a/connections/{config}/"),
        "POST": same("301 /t/team-a/connections/{config}/"),
    },
    "t/<slug:team_slug>/clients/<int:pk>/delete/": {
        "GET": same("301 /t/team-a/connections/{spare_config}/delete/"),
        "POST": same("301 /t/team-a/connections/{spare_config}/delete/"),
    },
    # The inventory: every member reads it, as history.
    "t/<slug:team_slug>/devices/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/devices/export/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    # A bulk action on devices (its confirmation page; a POST without the fingerprint the page
    # showed starts nothing and shows the page again: 409), for those who may de-provision one.
    "t/<slug:team_slug>/devices/act/": {
        "GET": cells(LOGIN, 200, 200, 403, 404),
        "POST": cells(LOGIN, 409, 409, 403, 404),
    },
    "t/<slug:team_slug>/devices/new/": {
        "GET": cells(LOGIN, 200, 200, 403, 404),
        "POST": cells(LOGIN, 200, 200, 403, 404),
    },
    "t/<slug:team_slug>/devices/new/progress/": {
        "GET": cells(LOGIN, 200, 200, 403, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/history/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/history/export/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/history/<int:pk>/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/history/<int:pk>/deprovision/": {
        "GET": cells(LOGIN, 200, 200, 403, 404),
        "POST": cells(LOGIN, 200, 200, 403, 404),
    },
    # Check at provider: a read, for those who provision (this entry's Bosch connection has no
    # Things base URL, so the answer explains that and nothing is read or recorded).
    "t/<slug:team_slug>/history/<int:pk>/check/": {
        "GET": cells(LOGIN, 405, 405, 405, 405),
        "POST": cells(LOGIN, 200, 200, 403, 404),
    },
    "t/<slug:team_slug>/namespaces/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 200, 403, 403, 404),
    },
    "t/<slug:team_slug>/namespaces/<int:pk>/delete/": {
        "GET": cells(LOGIN, 200, 403, 403, 404),
        "POST": cells(LOGIN, "302 /t/team-a/namespaces/", 403, 403, 404),
    },
    # Device templates: every member reads them and their versions; team admins change them.
    "t/<slug:team_slug>/templates/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/templates/new/": {
        "GET": cells(LOGIN, 200, 403, 403, 404),
        "POST": cells(LOGIN, 400, 403, 403, 404),
    },
    "t/<slug:team_slug>/templates/<int:pk>/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/templates/<int:pk>/edit/": {
        "GET": cells(LOGIN, 200, 403, 403, 404),
        "POST": cells(LOGIN, 400, 403, 403, 404),
    },
    "t/<slug:team_slug>/templates/<int:pk>/versions/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/templates/<int:pk>/versions/<int:number>/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/templates/<int:pk>/retire/": {
        "GET": cells(LOGIN, 200, 403, 403, 404),
        "POST": cells(LOGIN, "302 /t/team-a/templates/{spare_template}/", 403, 403, 404),
    },
    "t/<slug:team_slug>/templates/<int:pk>/restore/": {
        "GET": cells(LOGIN, 405, 405, 405, 405),
        "POST": cells(LOGIN, "302 /t/team-a/templates/{retired_template}/", 403, 403, 404),
    },
    "t/<slug:team_slug>/templates/<int:pk>/delete/": {
        "GET": cells(LOGIN, 200, 403, 403, 404),
        "POST": cells(LOGIN, "302 /t/team-a/templates/", 403, 403, 404),
    },
    "t/<slug:team_slug>/members/": {
        "GET": cells(LOGIN, 200, 403, 403, 404),
        "POST": cells(LOGIN, 200, 403, 403, 404),
    },
    "t/<slug:team_slug>/members/<int:pk>/role/": {
        "GET": cells(LOGIN, 405, 405, 405, 405),
        "POST": cells(LOGIN, "302 /t/team-a/members/", 403, 403, 404),
    },
    "t/<slug:team_slug>/members/<int:pk>/remove/": {
        "GET": cells(LOGIN, 200, 403, 403, 404),
        "POST": cells(LOGIN, "302 /t/team-a/members/", 403, 403, 404),
    },
    "t/<slug:team_slug>/members/<int:pk>/password-reset/": {
        "GET": cells(LOGIN, 405, 405, 405, 405),
        "POST": cells(LOGIN, "302 /t/team-a/members/", 403, 403, 404),
    },
    "t/<slug:team_slug>/invitations/<int:pk>/revoke/": {
        "GET": cells(LOGIN, 405, 405, 405, 405),
        "POST": cells(LOGIN, "302 /t/team-a/members/", 403, 403, 404),
    },
    "t/<slug:team_slug>/groups/": {
        "GET": cells(LOGIN, 200, 403, 403, 404),
        "POST": cells(LOGIN, 200, 403, 403, 404),
    },
    "t/<slug:team_slug>/groups/<int:pk>/delete/": {
        "GET": cells(LOGIN, 405, 405, 405, 405),
        "POST": cells(LOGIN, "302 /t/team-a/groups/", 403, 403, 404),
    },
    # Bulk jobs (the job is a finished one: actions on it are refused politely, with a redirect).
    "t/<slug:team_slug>/bulk/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/bulk/new/": {
        "GET": cells(LOGIN, 200, 200, 403, 404),
        "POST": cells(LOGIN, 400, 400, 403, 404),
    },
    "t/<slug:team_slug>/bulk/template.csv": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/bulk/<int:pk>/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/bulk/<int:pk>/columns/": {
        # The mapping step of an upload; this job's columns were read long ago: back to the job.
        "GET": cells(LOGIN, "302 /t/team-a/bulk/{job}/", "302 /t/team-a/bulk/{job}/", 403, 404),
        "POST": cells(LOGIN, "302 /t/team-a/bulk/{job}/", "302 /t/team-a/bulk/{job}/", 403, 404),
    },
    "t/<slug:team_slug>/bulk/<int:pk>/start/": {
        "GET": cells(LOGIN, 405, 405, 405, 405),
        "POST": cells(LOGIN, "302 /t/team-a/bulk/{job}/", "302 /t/team-a/bulk/{job}/", 403, 404),
    },
    "t/<slug:team_slug>/bulk/<int:pk>/discard/": {
        "GET": cells(LOGIN, 405, 405, 405, 405),
        "POST": cells(LOGIN, "302 /t/team-a/bulk/{job}/", "302 /t/team-a/bulk/{job}/", 403, 404),
    },
    "t/<slug:team_slug>/bulk/<int:pk>/cancel/": {
        # The job is finished: nothing to confirm, back to the job.
        "GET": cells(LOGIN, "302 /t/team-a/bulk/{job}/", "302 /t/team-a/bulk/{job}/", 403, 404),
        "POST": cells(LOGIN, "302 /t/team-a/bulk/{job}/", "302 /t/team-a/bulk/{job}/", 403, 404),
    },
    "t/<slug:team_slug>/bulk/<int:pk>/resume/": {
        "GET": cells(LOGIN, 405, 405, 405, 405),
        "POST": cells(LOGIN, "302 /t/team-a/bulk/{job}/", "302 /t/team-a/bulk/{job}/", 403, 404),
    },
    "t/<slug:team_slug>/bulk/<int:pk>/retry-unknown/": {
        "GET": cells(LOGIN, 405, 405, 405, 405),
        "POST": cells(LOGIN, "302 /t/team-a/bulk/{job}/", "302 /t/team-a/bulk/{job}/", 403, 404),
    },
    "t/<slug:team_slug>/bulk/<int:pk>/failed-rows.csv": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/bulk/<int:pk>/credentials/": {
        "GET": cells(LOGIN, 200, 200, 403, 404),
        "POST": cells(LOGIN, "302 /t/team-a/bulk/{job}/", "302 /t/team-a/bulk/{job}/", 403, 404),
    },
    # The sandbox: its page for anyone signed in (changes for staff only), its API for machines.
    "sandbox/": {"GET": cells(LOGIN, 200, 200, 200, 200), "POST": cells(LOGIN, 403, 403, 403, 403)},
    "sandbox/token": {"GET": same(405), "POST": same(400)},
    "sandbox/iam/access-management/v1/tenants/<str:tenant>/openid-connect/token": {
        "GET": same(405),
        "POST": same(400),
    },
    "sandbox/api/1/<str:sid>/devices": {"GET": same(405), "POST": same(401)},
    "sandbox/api/1/<str:sid>/devices/<path:device_id>": {"GET": same(405), "POST": same(405)},
    "sandbox/^(api|iam)/": {"GET": same(404), "POST": same(404)},
    # Its Hono registry and Ditto: Basic or bearer credentials, never a session.
    "sandbox/v1/tenants": {"GET": same(401), "POST": same(401)},
    "sandbox/v1/tenants/<str:tenant_id>": {"GET": same(401), "POST": same(401)},
    "sandbox/v1/devices/<str:tenant_id>": {"GET": same(401), "POST": same(401)},
    "sandbox/v1/devices/<str:tenant_id>/<str:device_id>": {"GET": same(401), "POST": same(401)},
    "sandbox/v1/credentials/<str:tenant_id>/<str:device_id>": {"GET": same(401), "POST": same(401)},
    "sandbox/^v1/": {"GET": same(404), "POST": same(404)},
    "sandbox/api/2/things/<str:thing_id>": {"GET": same(401), "POST": same(401)},
    "sandbox/api/2/policies/<str:policy_id>": {"GET": same(401), "POST": same(401)},
    "sandbox/^api/2/": {"GET": same(404), "POST": same(404)},
    # Its Bosch IoT Things (read-only): the provisioning API's bearer token.
    "sandbox/things/api/2/things/<str:thing_id>": {"GET": same(401), "POST": same(401)},
    # The Django admin: superusers only; nobody of the cast is staff.
    "admin/": ADMIN_ONLY,
    "admin/login/": {"GET": same(200), "POST": same(200)},
    "admin/logout/": {"GET": same("302 /admin/"), "POST": same("302 /admin/")},
    "admin/password_change/": ADMIN_ONLY,
    "admin/password_change/done/": ADMIN_ONLY,
    "admin/autocomplete/": ADMIN_ONLY,
    "admin/jsi18n/": ADMIN_ONLY,
    "admin/r/<path:content_type_id>/<path:object_id>/": ADMIN_ONLY,
    "admin/auth/user/<id>/password/": ADMIN_ONLY,
    "admin/^(?P<app_label>auth|axes|django_tasks_database|provisioning|sandbox)/$": ADMIN_ONLY,
    "admin/(?P<url>.*)$": ADMIN_ONLY,
}
for _model in ADMIN_MODELS:
    EXPECTED.update(model_admin_rows(_model))

# The cells that may change the team's state (all others must leave it exactly as it was).
MUTATES = {
    "t/<slug:team_slug>/connections/<int:pk>/delete/": {("POST", "admin")},
    "t/<slug:team_slug>/connections/<int:pk>/test/": {("POST", "admin"), ("POST", "operator")},
    "t/<slug:team_slug>/history/<int:pk>/deprovision/": {("POST", "admin"), ("POST", "operator")},
    "t/<slug:team_slug>/namespaces/<int:pk>/delete/": {("POST", "admin")},
    "t/<slug:team_slug>/members/<int:pk>/remove/": {("POST", "admin")},
    # The reset link is e-mailed (the locmem outbox) and its sending audited.
    "t/<slug:team_slug>/members/<int:pk>/password-reset/": {("POST", "admin")},
    "t/<slug:team_slug>/invitations/<int:pk>/revoke/": {("POST", "admin")},
    "t/<slug:team_slug>/groups/<int:pk>/delete/": {("POST", "admin")},
    "t/<slug:team_slug>/templates/<int:pk>/retire/": {("POST", "admin")},
    "t/<slug:team_slug>/templates/<int:pk>/restore/": {("POST", "admin")},
    "t/<slug:team_slug>/templates/<int:pk>/delete/": {("POST", "admin")},
}

# Which of team A's objects a route's <pk> names.
OBJECTS = {
    "t/<slug:team_slug>/connections/<int:pk>/": "config",
    "t/<slug:team_slug>/connections/<int:pk>/delete/": "spare_config",
    "t/<slug:team_slug>/connections/<int:pk>/test/": "config",
    "t/<slug:team_slug>/clients/<int:pk>/": "config",
    "t/<slug:team_slug>/clients/<int:pk>/delete/": "spare_config",
    "t/<slug:team_slug>/history/<int:pk>/": "entry",
    "t/<slug:team_slug>/history/<int:pk>/deprovision/": "entry",
    "t/<slug:team_slug>/history/<int:pk>/check/": "entry",
    "t/<slug:team_slug>/namespaces/<int:pk>/delete/": "spare_namespace",
    "t/<slug:team_slug>/members/<int:pk>/role/": "spare_member",
    "t/<slug:team_slug>/members/<int:pk>/remove/": "spare_member",
    "t/<slug:team_slug>/members/<int:pk>/password-reset/": "spare_member",
    "t/<slug:team_slug>/invitations/<int:pk>/revoke/": "spare_invitation",
    "t/<slug:team_slug>/groups/<int:pk>/delete/": "spare_mapping",
    "t/<slug:team_slug>/templates/<int:pk>/": "template",
    "t/<slug:team_slug>/templates/<int:pk>/edit/": "template",
    "t/<slug:team_slug>/templates/<int:pk>/versions/": "template",
    "t/<slug:team_slug>/templates/<int:pk>/versions/<int:number>/": "template",
    "t/<slug:team_slug>/templates/<int:pk>/retire/": "spare_template",
    "t/<slug:team_slug>/templates/<int:pk>/restore/": "retired_template",
    "t/<slug:team_slug>/templates/<int:pk>/delete/": "unused_template",
}
# Patterns written as regular expressions, and the URL used for each.
REGEX_URLS = {
    "sandbox/^(api|iam)/": "/sandbox/api/no-such-thing",
    "sandbox/^v1/": "/sandbox/v1/no-such-thing",
    "sandbox/^api/2/": "/sandbox/api/2/search/things",
    "admin/^(?P<app_label>auth|axes|django_tasks_database|provisioning|sandbox)/$": "/admin/provisioning/",
    "admin/(?P<url>.*)$": "/admin/no-such-page/",
}
# Query strings of routes whose page needs one (the choice a bulk action confirms).
QUERIES = {"t/<slug:team_slug>/devices/act/": "?action=deprovision&scope=all"}
# Harmless (mostly invalid) bodies for the POSTs that would otherwise act.
POST_DATA = {
    "t/<slug:team_slug>/devices/act/": {"action": "deprovision", "scope": "all"},
    "accounts/login/": {"username": "", "password": ""},
    "account/theme/": {"theme": "no-such-theme", "next": "/"},
    "accounts/password/": {"old_password": "", "new_password1": "", "new_password2": ""},
    "accounts/reset/<uidb64>/<token>/": {"new_password1": "", "new_password2": ""},
    "teams/new/": {"name": ""},
    "invitations/<str:token>/": {"username": "", "password1": "", "password2": ""},
    "t/<slug:team_slug>/connections/new/": {"name": ""},
    "t/<slug:team_slug>/connections/<int:pk>/": {"name": ""},
    # The inventory: every member reads it, as history.
    "t/<slug:team_slug>/devices/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/devices/export/": {
        "GET": cells(LOGIN, 200, 200, 200, 404),
        "POST": cells(LOGIN, 405, 405, 405, 405),
    },
    "t/<slug:team_slug>/devices/new/": {"action": "preview", "name": ""},
    "t/<slug:team_slug>/namespaces/": {"name": "not a namespace!"},
    "t/<slug:team_slug>/members/": {"email": "not-an-email", "role": "operator"},
    "t/<slug:team_slug>/members/<int:pk>/role/": {"role": "no-such-role"},
    "t/<slug:team_slug>/groups/": {"group": "", "role": "operator"},
    "t/<slug:team_slug>/templates/new/": {"name": ""},
    "t/<slug:team_slug>/templates/<int:pk>/edit/": {"name": ""},
    "sandbox/": {"action": "clear_faults"},
    "admin/login/": {"username": "", "password": ""},
}


# --- the objects ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browsers():
    """One test client per visitor for the whole module (each new one loads the middleware again,
    and WhiteNoise's scan of the static files made that most of a row's time)."""
    return {role: Client() for role in ROLES}


@pytest.fixture
def world(cast, team_a, caplog, browsers, settings):
    """Team A's objects, and a logged-in test client per visitor.

    Sign-in with an identity provider is on, the provider down (nothing listens on the discard
    port): its routes answer for themselves without one (tests/test_oidc_sign_in.py has one).
    """
    caplog.set_level(logging.ERROR, logger="django.request")  # 1,500 requests: no 403/404 tracebacks
    settings.OIDC_ENABLED = True
    settings.OIDC_ISSUER = "http://127.0.0.1:9"
    settings.OIDC_CLIENT_ID = "matrix"
    settings.OIDC_CLIENT_SECRET = "matrix-oidc-secret"
    operator = cast["operator"]
    # Test connection fails fast: nothing listens on the discard port.
    config = make_config(
        team_a,
        name="Matrix",
        preset="custom",
        token_url="http://127.0.0.1:9/token",
        api_base_url="http://127.0.0.1:9/api/1",
        secret="matrix-secret-value",
    )
    spare_config = make_config(team_a, name="Spare", secret=None)
    namespace = Namespace.objects.create(team=team_a, name="com.acme.matrix", client=config)
    spare_namespace = Namespace.objects.create(team=team_a, name="com.acme.spare")
    spare_user = get_user_model().objects.create_user("sam", "sam@example.com", "a-long-password-for-sam")
    spare_member = Membership.objects.create(user=spare_user, team=team_a, role=Role.AUDITOR)
    spare_invitation, _ = Invitation.issue(
        team=team_a, email="ivy@example.com", role=Role.OPERATOR, invited_by_name="alice"
    )
    _, token = Invitation.issue(
        team=team_a, email="ian@example.com", role=Role.OPERATOR, invited_by_name="alice"
    )
    # A created device: its history entry can de-provision (through the failing client).
    correlation = uuid.uuid4()
    target = "com.acme.matrix:boiler-1"
    for phase, status in ((AuditEvent.Phase.INTENT, "pending"), (AuditEvent.Phase.OUTCOME, "created")):
        entry = audit.record(
            "device.provision",
            actor=operator,
            team=team_a,
            config=config,
            phase=phase,
            status=status,
            target=target,
            http_status=201 if status == "created" else None,
            correlation_id=correlation,
            request={"method": "POST", "body": {"id": target}},
        )
    spare_mapping = GroupMapping.objects.create(team=team_a, group="/spare", role=Role.AUDITOR)
    template = make_template(team_a, name="Matrix")
    spare_template = make_template(team_a, name="Spare")
    unused_template = make_template(team_a, name="Unused")
    retired_template = make_template(team_a, name="Retired")
    DeviceTemplate.objects.filter(pk=retired_template.pk).update(retired_at=timezone.now())
    job = make_draft(team_a, operator, config, namespace, csv_bytes(device_rows(2)))
    BulkJob.objects.filter(pk=job.pk).update(status=JobStatus.DONE)

    for role, browser in browsers.items():
        browser.cookies.clear()
        if role != "anon":
            browser.force_login(cast[role])
    return {
        "browsers": browsers,
        "ids": {
            "config": config.pk,
            "spare_config": spare_config.pk,
            "spare_namespace": spare_namespace.pk,
            "spare_member": spare_member.pk,
            "spare_invitation": spare_invitation.pk,
            "spare_mapping": spare_mapping.pk,
            "entry": entry.pk,
            "job": job.pk,
            "template": template.pk,
            "spare_template": spare_template.pk,
            "unused_template": unused_template.pk,
            "retired_template": retired_template.pk,
        },
        "token": token,
    }


def concrete(route, world, team_slug="team-a"):
    """The URL of ``route`` for team A's objects."""
    if route in REGEX_URLS:
        return REGEX_URLS[route]
    ids = world["ids"]
    pk = ids["job"] if "/bulk/<int:pk>/" in route else ids.get(OBJECTS.get(route), None)
    values = {
        "team_slug": team_slug,
        "pk": str(pk),
        "token": world["token"],
        "uidb64": "MQ",
        "content_type_id": "1",
        "object_id": "1",
        "id": "1",
        "tenant": "tenant-1",
        "sid": SID,
        "device_id": "com.acme.matrix:boiler-1",
        "tenant_id": "tenant-1",
        "thing_id": "com.acme.matrix:boiler-1",
        "policy_id": "com.acme.matrix:boiler-1",
        "number": "1",
    }

    def fill(match):
        name = match.group(2)
        assert values.get(name) not in (None, "None"), f"no value for <{name}> in {route}"
        return values[name]

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, route) + QUERIES.get(route, "")


def _watched():
    """Everything a visitor could change that belongs to a team, a user or the sandbox."""
    return {
        "connections": Connection.objects.order_by("pk").values_list(
            "pk", "name", "config_version", "secret_sealed", "last_error", "last_success_at"
        ),
        "namespaces": Namespace.objects.order_by("pk").values_list("pk", "name", "client_id"),
        "members": Membership.objects.order_by("pk").values_list(
            "pk", "user_id", "team_id", "role", "from_groups"
        ),
        "group_mappings": GroupMapping.objects.order_by("pk").values_list("pk", "team_id", "group", "role"),
        "users": get_user_model()
        .objects.order_by("pk")
        .values_list("pk", "username", "password", "is_active"),
        "invitations": Invitation.objects.order_by("pk").values_list("pk", "accepted_at"),
        "audit": AuditEvent.objects.order_by("pk").values_list("pk", "action", "status"),
        "open": OpenAttempt.objects.order_by("pk").values_list("correlation_id"),
        "jobs": BulkJob.objects.order_by("pk").values_list("pk", "status", "credentials_downloaded_at"),
        "preferences": Preference.objects.order_by("pk").values_list("user_id", "theme"),
        "faults": Fault.objects.order_by("pk").values_list("pk", "remaining"),
        "hono": HonoDevice.objects.order_by("pk").values_list("pk", "etag", "credentials_etag"),
        "ditto": DittoThing.objects.order_by("pk").values_list("pk", "revision"),
        "templates": DeviceTemplate.objects.order_by("pk").values_list("pk", "name", "retired_at"),
        "versions": TemplateVersion.objects.order_by("pk").values_list("pk", "template_id", "number"),
    }


_SNAPSHOT_SQL = []


def snapshot():
    """The rows of _watched(), read with SQL compiled once (3,000 snapshots per run)."""
    if not _SNAPSHOT_SQL:
        _SNAPSHOT_SQL.extend(qs.query.sql_with_params() for qs in _watched().values())
    with connection.cursor() as cursor:
        rows = []
        for sql, params in _SNAPSHOT_SQL:
            cursor.execute(sql, params)
            rows.append(cursor.fetchall())
    return rows


def describe(response, url):
    """A response as a cell of the table."""
    if response.status_code not in (301, 302):
        return response.status_code
    location = response["Location"]
    if location == f"/accounts/login/?next={quote(url)}":
        return LOGIN
    if location == f"/admin/login/?next={quote(url)}":
        return ADMIN_LOGIN
    return f"{response.status_code} {location}"


def expected_cell(value, world):
    return value.format(**world["ids"]) if isinstance(value, str) else value


# Refused visitors go first, so that an allowed POST (a delete) cannot hide a refusal.
ORDER = ("anon", "other", "auditor", "operator", "admin")


def run_row(route, world):
    """Every cell of ``route``: {method: {role: cell}}, and the cells that changed state."""
    url = concrete(route, world)
    observed = {method: {} for method in METHODS}
    changed = set()
    before = snapshot()
    for method in METHODS:
        for role in ORDER:
            browser = world["browsers"][role]
            if method == "GET":
                response = browser.get(url)
            else:
                response = browser.post(url, POST_DATA.get(route, {}))
            observed[method][role] = describe(response, url)
            after = snapshot()
            if after != before:
                changed.add((method, role))
            before = after
    return observed, changed


def groups():
    """The rows in test-sized groups: each route alone, a model admin's six routes together."""
    grouped = {}
    for route in sorted(EXPECTED):
        model = next((m for m in ADMIN_MODELS if route.startswith(f"admin/{m}/")), None)
        grouped.setdefault(f"admin/{model}/..." if model else route, []).append(route)
    return grouped


GROUPS = groups()


# --- the tests -----------------------------------------------------------------------------


def test_every_route_has_a_row():
    missing = sorted(set(routes()) - set(EXPECTED))
    assert missing == [], "add these routes to EXPECTED in tests/test_role_matrix.py"


def test_every_row_is_a_route():
    assert sorted(set(EXPECTED) - set(routes())) == []


def test_every_row_has_every_method_and_visitor():
    for route, row in EXPECTED.items():
        assert set(row) == set(METHODS), route
        for method in METHODS:
            assert set(row[method]) == set(ROLES), (route, method)
    for route in set(OBJECTS) | set(MUTATES) | set(POST_DATA) | set(REGEX_URLS) | set(QUERIES):
        assert route in EXPECTED, route


def test_the_matrix_size():
    size = sum(len(row[method]) for row in EXPECTED.values() for method in row)
    print(
        f"role matrix: {len(EXPECTED)} routes x {len(METHODS)} methods x {len(ROLES)} visitors = {size} cells"
    )
    assert size == len(set(routes())) * len(METHODS) * len(ROLES)


def test_the_groups_hold_every_row_once():
    assert sorted(route for routes in GROUPS.values() for route in routes) == sorted(EXPECTED)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_each_visitor_gets_the_answer_in_the_table(group, world):
    observed, expected = {}, {}
    for route in GROUPS[group]:
        observed[route] = run_row(route, world)
        cells_expected = {
            method: {role: expected_cell(EXPECTED[route][method][role], world) for role in ROLES}
            for method in METHODS
        }
        expected[route] = (cells_expected, MUTATES.get(route, set()))
    assert observed == expected


# Old paths that only redirect (their rows above): the page they lead to does the refusing.
MOVED = {route for route, row in EXPECTED.items() if str(row["GET"]["other"]).startswith("301 ")}
TEAM_OBJECT_ROUTES = sorted(
    route for route in EXPECTED if route.startswith("t/") and "<int:pk>" in route and route not in MOVED
)


@pytest.mark.parametrize("route", TEAM_OBJECT_ROUTES)
def test_another_team_cannot_reach_an_object_through_its_own_team(route, world):
    """Team B's admin, at /t/team-b/..., with the id of team A's object: the same as "other" above.

    Past the membership check (B's admin is a member of team B), only the lookup of the
    object within the team stands between them and team A's client, entry or job.
    """
    url = concrete(route, world, team_slug="team-b")
    browser = world["browsers"]["other"]
    before = snapshot()
    observed = {
        "GET": browser.get(url).status_code,
        "POST": browser.post(url, POST_DATA.get(route, {})).status_code,
    }
    assert observed == {method: EXPECTED[route][method]["other"] for method in METHODS}
    assert 404 in observed.values()
    assert snapshot() == before


def test_someone_in_no_team_sees_whom_to_ask_and_no_team_page(client, world, settings):
    """A sixth visitor, signed in but in no team (the no-team page): the "" row's other answer."""
    loner = get_user_model().objects.create_user("loner", "loner@example.com", "a-long-password-for-loner")
    client.force_login(loner)
    home = client.get("/")
    assert home.status_code == 200
    assert "You are not in a team yet" in home.content.decode()
    for route in sorted(EXPECTED):
        if route.startswith("t/") and route not in MOVED:
            url = concrete(route, world)
            observed = {"GET": client.get(url).status_code, "POST": client.post(url).status_code}
            assert set(observed.values()) <= {404, 405}, (route, observed)
