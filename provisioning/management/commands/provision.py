"""Provision one device from the command line, through the same form and service as the page.

    python manage.py provision --user alice --team demo --config Sandbox \\
        --namespace com.example.demo --name boiler-1 --password-generate --attribute site=north

A generated secret is printed once on standard output (like the page's show-once
panel); use --password-env to pass a password without putting it in argv (it is
never printed). --dry-run prints the request with secrets masked and sends nothing.

--template NAME starts from the newest version of the team's template of that name, as the
page's "Start from a template" does: the options given override its values, except those it
fixes (an option that changes a fixed value is refused), and the attempt records the version.

Through an Eclipse Hono + Ditto or Ditto connection the device is a plan of several
calls sent as one attempt (hono_ditto_service): --dry-run prints each request in
order, and a Send prints every call's result (undo calls included) before the summary.
"""

import json
import os
import sys
import uuid

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.http import QueryDict

from provisioning import crypto, hono_ditto_builder, services, template_use
from provisioning.access import get_provisioner
from provisioning.models import Connection, Namespace
from provisioning.providers import bosch
from provisioning.template_use import BuilderForm

EXIT_CODES = {"created": 0, "conflict": 3, "refused": 4, "failed": 5, "unknown": 6}
EXIT_HELP = (
    "Exit codes: 0 created (or, with --dry-run, the request is valid); 1 could not start (a bad "
    "argument, an unknown user, team, connection or namespace, an invalid device, the audit log "
    "unavailable): nothing was sent; 3 the device exists already (409); 4 the provider refused it; "
    "5 nothing was created (no token, or the provider was unreachable or busy); 6 outcome unknown: "
    "check whether the device exists before sending again."
)


class Command(BaseCommand):
    help = "Provision one device (same validation, audit rows and API call as the dashboard)."

    def create_parser(self, prog_name, subcommand, **kwargs):
        return super().create_parser(prog_name, subcommand, epilog=EXIT_HELP, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument(
            "--user",
            dest="username",
            required=True,
            help="The acting user (an admin or operator of the team).",
        )
        parser.add_argument("--team", dest="team_slug", required=True, help="Team slug.")
        parser.add_argument(
            "--connection", "--config", "--client", dest="config_name", required=True, help="Connection name."
        )
        parser.add_argument("--namespace", dest="namespace_name", required=True)
        parser.add_argument("--name", required=True, help="Device name (after the colon).")
        parser.add_argument(
            "--template",
            metavar="NAME",
            help="Start from the team's template of this name: the options below override its values "
            "(default: hashed-password credentials, enabled, no gateway, a generated policy), except "
            "the values it fixes.",
        )
        parser.add_argument("--credentials", choices=["hashed-password", "psk", "none"])
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument("--password-generate", action="store_true", help="Generate a strong secret.")
        secret.add_argument(
            "--password-env", metavar="VAR", help="Read the password or psk key from $VAR (never printed)."
        )
        parser.add_argument("--auth-id", default="")
        parser.add_argument("--via", help="Gateway device id.")
        parser.add_argument("--disabled", action="store_true", help="Create the device disabled.")
        parser.add_argument("--attribute", action="append", default=[], metavar="KEY=VALUE")
        parser.add_argument("--definition")
        parser.add_argument("--policy-id", help="Use an existing policy instead of a generated one.")
        parser.add_argument(
            "--auth-scope", choices=["default", "none", "subscription", "deviceManagementSubscription"]
        )
        parser.add_argument("--dry-run", action="store_true", help="Print the request that would be sent.")
        parser.add_argument("--json", dest="as_json", action="store_true", help="Print the result as JSON.")

    def handle(
        self,
        *args,
        username,
        team_slug,
        config_name,
        namespace_name,
        name,
        template,
        credentials,
        password_generate,
        password_env,
        auth_id,
        via,
        disabled,
        attribute,
        definition,
        policy_id,
        auth_scope,
        dry_run,
        as_json,
        **options,
    ):
        try:
            membership = get_provisioner(username, team_slug)
        except PermissionDenied as refused:
            raise CommandError(str(refused)) from None
        user, team = membership.user, membership.team
        config = Connection.objects.filter(team=team, name=config_name).first()
        namespace = Namespace.objects.filter(team=team, name=namespace_name).first()
        if config is None:
            raise CommandError(f"Team {team.slug!r} has no connection named {config_name!r}.")
        if namespace is None:
            raise CommandError(f"Team {team.slug!r} has no namespace {namespace_name!r}.")
        version = None
        if template:
            version = template_use.named_usable(team, template)
            if version is None:
                raise CommandError(f"Team {team.slug!r} has no template named {template!r} in use.")
        # The template's values, where the options do not give one (builder defaults without one).
        start = template_use.builder_values(version) if version is not None else {}
        if credentials is None:
            credentials = start.get("credentials_type", "hashed-password")
        if auth_scope is None:
            auth_scope = start.get("auth_scope", "__default__")
        policy = ("existing", policy_id) if policy_id is not None else None
        if policy is None:
            policy = (start.get("policy_mode", "generated"), start.get("policy_id", ""))

        secret = ""
        if password_env:
            secret = os.environ.get(password_env, "")
            if not secret:
                raise CommandError(f"${password_env} is empty or not set.")
        elif credentials != "none" and not password_generate and not dry_run:
            raise CommandError("Give --password-generate or --password-env VAR (or --credentials none).")

        data = QueryDict(mutable=True)
        data.update(
            {
                "config": str(config.pk),
                "namespace": str(namespace.pk),
                "name": name,
                "credentials_type": credentials,
                "auth_id": auth_id,
                "via": via if via is not None else start.get("via", ""),
                "definition": definition if definition is not None else start.get("definition", ""),
                "features": start.get("features", ""),
                "policy_mode": policy[0],
                "policy_id": policy[1],
                "auth_scope": "__default__" if auth_scope == "default" else auth_scope,
                "password" if credentials == "hashed-password" else "psk_key": secret,
                # Always said, so that --disabled against a template that fixes "enabled" is refused.
                "enabled": "false" if disabled or not start.get("enabled", True) else "true",
            }
        )
        attributes = dict(start.get("attributes", {}))
        for item in attribute:
            key, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--attribute takes KEY=VALUE, not {item!r}.")
            attributes[key] = value
        for key, value in attributes.items():
            data.appendlist("attr_key", key)
            data.appendlist("attr_value", value)

        form = BuilderForm(data, team=team, template=version)
        if not form.is_valid():
            lines = [f"{field}: {' '.join(msgs)}" for field, msgs in form.errors.items()]
            raise CommandError("The device is not valid:\n  " + "\n  ".join(lines))

        if not config.is_bosch:  # the form refused an authScope for it
            return self.hono_ditto(form, user, team, dry_run=dry_run, as_json=as_json)

        if dry_run:
            preview = bosch.request_preview(config, form.to_body(), auth_scope=form.effective_auth_scope())
            if as_json:
                self.stdout.write(json.dumps({**preview, "body": json.loads(preview["body"])}, indent=2))
            else:
                self.stdout.write(f"{preview['method']} {preview['url']}")
                for key, value in preview["headers"].items():
                    self.stdout.write(f"{key}: {value}")
                self.stdout.write("")
                self.stdout.write(preview["body"])
            return

        generated = form.new_secret() if form.needs_generated_secret() else None
        body = form.to_body(generated_secret=generated)
        try:
            outcome = services.provision_device(
                actor=user,
                team=team,
                config=config,
                body=body,
                auth_scope=form.effective_auth_scope(),
                template=version,
            )
        except services.AuditUnavailable as exc:
            raise CommandError(str(exc)) from None

        # A generated secret is printed once, after a 201, or when the outcome is unknown (the
        # device may exist with it). One from --password-env the caller knows: it is never printed.
        shown = bosch.body_secret(body) if generated and (outcome.ok or outcome.status == "unknown") else None
        if as_json:
            result = {
                "status": outcome.status,
                "httpStatus": outcome.http_status,
                "correlationId": str(outcome.correlation_id),
                "deviceId": body["id"],
                "message": outcome.message,
                "nextStep": outcome.next_step,
                "request": bosch.masked(body),
            }
            if shown:
                result["secret"] = shown
            self.stdout.write(json.dumps(result, indent=2))
        elif outcome.ok:
            self.stdout.write(self.style.SUCCESS(f"Created {body['id']} ({outcome.latency_ms} ms)."))
            if shown:
                self.stdout.write(f"Secret (shown once): {shown}")
        else:
            self.stderr.write(f"{outcome.status}: {outcome.message}\nNext step: {outcome.next_step}")
            if shown:
                self.stdout.write(f"If the device was created, its secret is: {shown}")
        if not outcome.ok:
            sys.exit(EXIT_CODES.get(outcome.status, 1))

    def hono_ditto(self, form, user, team, *, dry_run, as_json):
        """Through a Hono + Ditto or Ditto connection: the plan's requests (--dry-run), or the plan
        sent as one attempt, with every step's result."""
        if dry_run:
            steps = hono_ditto_builder.request_preview(form)["steps"]
            if as_json:
                self.stdout.write(
                    json.dumps([{**s, "body": s["body"] and json.loads(s["body"])} for s in steps])
                )
                return
            for number, step in enumerate(steps, start=1):
                self.stdout.write(f"{number}. {step['title']}")
                self.stdout.write(f"{step['method']} {step['url']}")
                for key, value in step["headers"].items():
                    self.stdout.write(f"{key}: {value}")
                if step["body"]:
                    self.stdout.write("")
                    self.stdout.write(step["body"])
                self.stdout.write("")
            return
        generated = form.new_secret() if form.needs_generated_secret() else None
        try:
            sent = hono_ditto_builder.send(
                form,
                actor=user,
                team=team,
                correlation_id=uuid.uuid4(),
                generated=generated,
                template=form.template,
            )
        except services.AuditUnavailable as exc:
            raise CommandError(str(exc)) from None
        except crypto.SecretBoxError as exc:
            raise CommandError(hono_ditto_builder.unusable_password(exc)) from None
        result = sent.result
        # As on the page: a generated secret is printed when the device may hold it now.
        holds = "credentials" in result.created and "credentials" not in result.undone
        shown = sent.secret if generated and (result.ok or result.status == "unknown" or holds) else None
        if as_json:
            answer = {
                "status": result.status,
                "httpStatus": result.http_status,
                "correlationId": str(result.correlation_id),
                "deviceId": form.device_id,
                "message": result.message,
                "nextStep": result.next_step,
                "steps": [step.as_dict() for step in result.steps],
                "created": result.created,
                "undone": result.undone,
                "notUndone": result.not_undone,
            }
            if shown:
                answer["secret"] = shown
            self.stdout.write(json.dumps(answer, indent=2))
        else:
            for step in result.steps:
                code = f" ({step.http_status})" if step.http_status else ""
                words = f": {step.message}" if step.message else ""
                self.stdout.write(f"  {step.stage} {step.name}: {step.status}{code}{words}")
            if result.ok:
                self.stdout.write(self.style.SUCCESS(f"Created {form.device_id} ({sent.latency_ms} ms)."))
                if shown:
                    self.stdout.write(f"Secret (shown once): {shown}")
            else:
                self.stderr.write(f"{result.status}: {result.message}\nNext step: {result.next_step}")
                if shown:
                    self.stdout.write(f"If the device holds these credentials now, its secret is: {shown}")
        if not result.ok:
            sys.exit(EXIT_CODES.get(result.status, 1))
