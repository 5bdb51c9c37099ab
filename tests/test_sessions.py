"""Sessions: Django's own store; signed-in users stay signed in, also across the upgrade that
retired the project's own sign-in backend (migration 0007)."""

import importlib
import time

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session

pytestmark = pytest.mark.django_db

upgrade = importlib.import_module("provisioning.migrations.0007_sessions_use_model_backend")


def test_a_signed_in_user_stays_signed_in_and_an_expired_session_signs_out(as_user, cast, settings):
    """With either session engine (db, or cached_db when Redis is configured): the session
    lives SESSION_COOKIE_AGE seconds in the database and in the cache alike."""
    settings.SESSION_COOKIE_AGE = 1
    client = as_user(cast["admin"])
    assert client.get("/t/team-a/").status_code == 200

    time.sleep(2.1)

    response = client.get("/t/team-a/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def session_of(user, backend):
    """A session as sign-in writes it, naming ``backend``."""
    store = SessionStore()
    store.update(
        {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: backend,
            HASH_SESSION_KEY: user.get_session_auth_hash(),
            "team": "team-a",
        }
    )
    store.create()
    return store.session_key


def test_the_upgrade_keeps_sessions_of_the_retired_backend_signed_in(client, cast):
    key = session_of(cast["admin"], upgrade.OLD)
    client.cookies[settings.SESSION_COOKIE_NAME] = key
    assert client.get("/t/team-a/").status_code == 302  # unknown backend: Django signs it out

    key = session_of(cast["admin"], upgrade.OLD)
    upgrade.rename_backend(apps, None)

    data = SessionStore(key).load()
    assert data[BACKEND_SESSION_KEY] == "django.contrib.auth.backends.ModelBackend"
    assert data["team"] == "team-a"
    client.cookies[settings.SESSION_COOKIE_NAME] = key
    assert client.get("/t/team-a/").status_code == 200


def test_the_upgrade_leaves_other_sessions_alone(cast):
    kept = session_of(cast["operator"], "django.contrib.auth.backends.ModelBackend")
    before = Session.objects.get(session_key=kept).session_data

    upgrade.rename_backend(apps, None)

    assert Session.objects.get(session_key=kept).session_data == before
