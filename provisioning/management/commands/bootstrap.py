"""First-run set-up for `make run`: an admin user, and a demo team wired to the sandbox.

Idempotent: a second run changes nothing that exists and prints where to log in.
"""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from provisioning import audit, team_admin
from provisioning.models import Connection, ConnectionKind, Membership, Namespace, Role, Team
from provisioning.sandbox.seed import (
    DEMO_BASIC_USER,
    create_basic_user,
    dashboard_config,
    dashboard_hono_ditto,
    ensure_demo_hono_ditto,
    ensure_demo_tenant,
)

DEMO_TEAM = "Demo"
DEMO_CLIENT = "Sandbox"
# The demo connections of the other providers, each with a namespace of its own (the sandbox's
# Bosch instance takes only com.example.demo; its Hono registry and Ditto take any).
PROVIDER_DEMOS = [
    ("Sandbox Hono + Ditto", ConnectionKind.HONO_DITTO, "com.example.hono"),
    ("Sandbox Ditto", ConnectionKind.DITTO, "com.example.twins"),
]


class Command(BaseCommand):
    help = "Create the first admin user and, with the sandbox on, a demo team that uses it."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="Where the server will listen.")

    def handle(self, *args, url, **options):
        User = get_user_model()
        password_note = None
        hono_ditto = None
        with transaction.atomic():
            admin = User.objects.filter(is_superuser=True).order_by("pk").first()
            if admin is None:
                if User.objects.filter(username=settings.ADMIN_USERNAME).exists():
                    raise CommandError(
                        f"A user named {settings.ADMIN_USERNAME!r} exists but is not a superuser. "
                        "Set ADMIN_USERNAME to a free name, or run `manage.py createsuperuser`."
                    )
                password = settings.ADMIN_PASSWORD or secrets.token_urlsafe(12)
                admin = User.objects.create_superuser(settings.ADMIN_USERNAME, "", password)
                password_note = (
                    "(from ADMIN_PASSWORD)"
                    if settings.ADMIN_PASSWORD
                    else f"{password}  (shown once: note it now)"
                )
            if settings.SANDBOX_ENABLED:
                team = self._seed_demo(admin)
                hono_ditto = self._seed_provider_demos(admin, team)

        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Provisioner is starting on {url}"))
        self.stdout.write(f"  Log in at {url}accounts/login/ as '{admin.username}'")
        if password_note:
            self.stdout.write(f"  Password: {password_note}")
        else:
            self.stdout.write(
                "  (the password was printed on the first run; reset it with "
                f'`make manage ARGS="changepassword {admin.username}"`)'
            )
        if settings.SANDBOX_ENABLED:
            self.stdout.write(f"  The built-in sandbox answers at {settings.SANDBOX_BASE_URL}/")
            self.stdout.write(
                f"  Team '{DEMO_TEAM}' reaches it through '{DEMO_CLIENT}' (Bosch IoT Suite), "
                + " and ".join(f"'{name}'" for name, _, _ in PROVIDER_DEMOS)
            )
            self.stdout.write(
                f"  Its Hono registry ({hono_ditto['hono_registry_url']}, tenant "
                f"'{hono_ditto['hono_tenant']}') and Ditto ({hono_ditto['ditto_api_url']}) take "
                f"Basic user '{hono_ditto['username']}' or a sandbox bearer token"
            )
            if hono_ditto["password"]:
                self.stdout.write(f"  Basic password: {hono_ditto['password']}  (shown once: note it now)")
        self.stdout.write("  Stop with Ctrl+C.")
        self.stdout.write("")

    def _seed_demo(self, admin):
        team, _ = Team.objects.get_or_create(slug="demo", defaults={"name": DEMO_TEAM})
        Membership.objects.get_or_create(user=admin, team=team, defaults={"role": Role.ADMIN})
        if Connection.objects.filter(team=team, name=DEMO_CLIENT).exists():
            return team
        demo = ensure_demo_tenant(settings.SANDBOX_BASE_URL)
        config = dashboard_config(team, demo, name=DEMO_CLIENT)
        Namespace.objects.get_or_create(team=team, name=demo["namespace"], defaults={"client": config})
        team_admin.record_seeded_config(config, actor=admin, team=team)
        return team

    def _seed_provider_demos(self, admin, team):
        """The sandbox's demo Hono tenant and Basic user, and the demo team's Hono + Ditto and
        Ditto connections, both as that user. Returns the sandbox's facts (``password`` set
        only when it was made by this run)."""
        facts = ensure_demo_hono_ditto(settings.SANDBOX_BASE_URL)
        existing = {
            c.name: c for c in Connection.objects.filter(team=team, name__in=[d[0] for d in PROVIDER_DEMOS])
        }
        if len(existing) == len(PROVIDER_DEMOS):
            return facts
        if facts["password"] is None:
            # The sandbox keeps only the password's hash: a connection to make needs a new one,
            # and the demo connection already there gets it too.
            facts["password"] = create_basic_user(DEMO_BASIC_USER)[1]
            for config in existing.values():
                self._renew_password(config, facts["password"], actor=admin, team=team)
        for name, kind, namespace in PROVIDER_DEMOS:
            if name in existing:
                continue
            config = dashboard_hono_ditto(team, facts, name=name, kind=kind)
            Namespace.objects.get_or_create(team=team, name=namespace, defaults={"client": config})
            team_admin.record_seeded_config(config, actor=admin, team=team)
        return facts

    def _renew_password(self, config, password, *, actor, team):
        """Give ``config``'s endpoints that sign in as the demo Basic user its new password."""
        renewed = [
            endpoint
            for endpoint in ("hono", "ditto")
            if getattr(config, f"{endpoint}_auth") == "basic"
            and getattr(config, f"{endpoint}_username") == DEMO_BASIC_USER
        ]
        if not renewed:
            return
        for endpoint in renewed:
            config.set_sealed(f"{endpoint}_password", password)
        config.save()
        audit.record(
            "client.update",
            actor=actor,
            team=team,
            config=config,
            target=config.name,
            status="ok",
            message="Basic password renewed by bootstrap for the built-in sandbox.",
        )
