"""provisioning.sessions: Django's database sessions, read with one plain SELECT."""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from provisioning.sessions import SessionStore

pytestmark = pytest.mark.django_db


def saved(data, expire_in=timedelta(minutes=5)):
    store = SessionStore()
    store.update(data)
    store.save()
    Session.objects.filter(session_key=store.session_key).update(expire_date=timezone.now() + expire_in)
    return store.session_key


def test_it_reads_what_djangos_store_reads():
    key = saved({"team": "team-a", "n": [1, 2], "_auth_user_id": "7"})

    with CaptureQueriesContext(connection) as queries:
        ours = SessionStore(key).load()

    assert ours == db.SessionStore(key).load() == {"team": "team-a", "n": [1, 2], "_auth_user_id": "7"}
    (query,) = queries
    assert query["sql"].startswith('SELECT "session_data" FROM "django_session" WHERE')


@pytest.mark.parametrize("key", ["expired", "unknown"])
def test_an_expired_or_unknown_session_is_empty_and_gets_a_new_key(key):
    key = saved({"team": "team-a"}, expire_in=timedelta(seconds=-1)) if key == "expired" else "x" * 32
    store = SessionStore(key)

    assert store.load() == {} and store.session_key is None
    store["team"] = "team-b"
    store.save()
    assert store.session_key not in (None, key)
    assert SessionStore(store.session_key).load() == {"team": "team-b"}


def test_a_signed_in_user_stays_signed_in_and_an_expired_session_signs_out(as_user, cast):
    client = as_user(cast["admin"])
    assert client.get("/t/team-a/").status_code == 200

    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))

    response = client.get("/t/team-a/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
