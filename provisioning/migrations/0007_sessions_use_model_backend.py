"""Sign-in sessions name the backend that signed the user in. Until 0.1's last release that was
``provisioning.auth.UserBackend``, now gone: Django's own ``ModelBackend`` took its place.

Django drops a session whose backend is not in AUTHENTICATION_BACKENDS, so without this
step every signed-in user would be signed out by the upgrade. Sessions are rewritten in
place; their data is otherwise unchanged, and they keep their expiry.
"""

from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import migrations
from django.utils import timezone

OLD = "provisioning.auth.UserBackend"
NEW = "django.contrib.auth.backends.ModelBackend"


def rename_backend(apps, schema_editor, old=OLD, new=NEW):
    Session = apps.get_model("sessions", "Session")
    store = SessionStore()
    changed = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=500):
        data = store.decode(session.session_data)
        if data.get(BACKEND_SESSION_KEY) == old:
            data[BACKEND_SESSION_KEY] = new
            session.session_data = store.encode(data)
            changed.append(session)
        if len(changed) >= 500:
            Session.objects.bulk_update(changed, ["session_data"])
            changed = []
    Session.objects.bulk_update(changed, ["session_data"])


def rename_back(apps, schema_editor):
    rename_backend(apps, schema_editor, old=NEW, new=OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0006_audit_one_intent_per_attempt"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(rename_backend, rename_back)]
