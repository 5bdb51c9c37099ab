"""manage.py bootstrap: the first admin user, once.

The demo team it seeds when SANDBOX_ENABLED is true belongs to the sandbox and is
tested with it; here the sandbox is off.
"""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from provisioning.models import Connection, Team

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_sandbox(settings):
    settings.SANDBOX_ENABLED = False
    settings.ADMIN_USERNAME = "admin"
    settings.ADMIN_PASSWORD = ""


def bootstrap():
    out = io.StringIO()
    call_command("bootstrap", "--url", "http://127.0.0.1:8000/", stdout=out)
    return out.getvalue()


def test_it_creates_a_superuser_with_a_generated_password():
    output = bootstrap()

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    match = re.search(r"Password: (\S+)\s+\(shown once", output)
    assert match, "the generated password is printed once"
    assert admin.check_password(match.group(1))
    assert len(match.group(1)) >= 16
    assert "Log in at http://127.0.0.1:8000/accounts/login/ as 'admin'" in output


def test_it_uses_admin_password_and_does_not_print_it(settings):
    settings.ADMIN_PASSWORD = "Operator-Chosen-Passphrase-7"
    settings.ADMIN_USERNAME = "root-admin"

    output = bootstrap()

    admin = get_user_model().objects.get(username="root-admin")
    assert admin.check_password("Operator-Chosen-Passphrase-7")
    assert "Operator-Chosen-Passphrase-7" not in output
    assert "(from ADMIN_PASSWORD)" in output


def test_a_second_run_changes_nothing_and_prints_no_password():
    first = bootstrap()
    password = re.search(r"Password: (\S+)", first).group(1)
    admin = get_user_model().objects.get(username="admin")

    second = bootstrap()

    assert get_user_model().objects.count() == 1
    admin.refresh_from_db()
    assert admin.check_password(password)
    assert password not in second
    assert "Password:" not in second
    assert "changepassword admin" in second


def test_an_existing_superuser_is_kept(django_user_model):
    django_user_model.objects.create_superuser("chief", "", "chief-password-123")
    output = bootstrap()
    assert list(django_user_model.objects.values_list("username", flat=True)) == ["chief"]
    assert "as 'chief'" in output


def test_a_non_superuser_with_the_admin_name_is_a_clear_error(django_user_model):
    django_user_model.objects.create_user("admin", "", "some-password-123")
    with pytest.raises(CommandError, match="exists but is not a superuser"):
        bootstrap()
    assert not django_user_model.objects.filter(is_superuser=True).exists()


def test_without_the_sandbox_it_seeds_no_demo():
    bootstrap()
    assert not Team.objects.exists()
    assert not Connection.objects.exists()
