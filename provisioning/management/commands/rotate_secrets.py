"""Re-encrypt every stored client secret with the newest key of ENCRYPTION_KEYS.

Key rotation, step by step:
1. put a new key first in ENCRYPTION_KEYS, keep the old ones after it, restart;
2. run `python manage.py rotate_secrets`;
3. when it reports no failure, drop the old keys from ENCRYPTION_KEYS and restart.

A secret that does not open (its key is gone, or the row was tampered with) is reported
by team and configuration name and left as it was; the command then exits non-zero.
The secrets themselves are never printed.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from provisioning import crypto, team_admin
from provisioning.models import OAuthClient


class Command(BaseCommand):
    help = "Re-encrypt every client secret with the newest key in ENCRYPTION_KEYS."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check that every secret opens and report what would change, without writing.",
        )

    def handle(self, *args, dry_run=False, **options):
        try:
            newest = crypto.parse_key_ring(settings.ENCRYPTION_KEYS)[0][0]
        except crypto.SecretBoxError as exc:
            raise CommandError(str(exc)) from None

        resealed, current, failed = 0, 0, []
        configs = OAuthClient.objects.exclude(secret_sealed="").select_related("team").order_by("pk")
        for config in configs.iterator():
            label = f"team “{config.team.name}”, configuration “{config.name}” (id {config.pk})"
            try:
                # Open even those already on the newest key: a damaged row is reported too.
                old_sealed = config.secret_sealed
                old_kid = crypto.key_id(old_sealed)
                config.reseal_secret()
            except crypto.SecretBoxError as exc:
                failed.append(f"{label}: {exc}")
                continue
            if old_kid == newest:
                current += 1
                continue
            if dry_run:
                resealed += 1
                self.stdout.write(f"would re-encrypt {label} (key {old_kid} -> {newest})")
                continue
            if team_admin.reseal_secret(config, old_sealed=old_sealed, old_key=old_kid, new_key=newest):
                resealed += 1
                self.stdout.write(f"re-encrypted {label} (key {old_kid} -> {newest})")
            else:
                current += 1

        verb = "would re-encrypt" if dry_run else "re-encrypted"
        summary = f"{verb} {resealed}, already on key {newest}: {current}, failed: {len(failed)}"
        if failed:
            for line in failed:
                self.stderr.write(f"cannot open the secret of {line}")
            self.stderr.write(
                "Those rows were left unchanged. Put the key they were sealed with back into "
                "ENCRYPTION_KEYS and run this again, or set a new secret for them in the dashboard."
            )
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
