"""Re-encrypt everything stored sealed with the newest key of ENCRYPTION_KEYS.

What is sealed, and what happens to it:
- client secrets and HTTP Basic passwords (of connections): re-encrypted, each change audited;
- bulk rows' passwords (BulkRow.secret_sealed: typed ones waiting to be sent, generated ones
  waiting for their one-time download): re-encrypted;
- held Send results (HeldResult, a few minutes old at most): re-encrypted;
- the shared token cache: its tokens are dropped, and fetched again (sealed with the newest
  key) at the next call. A process's own in-memory copy holds nothing sealed.

Key rotation, step by step:
1. put a new key first in ENCRYPTION_KEYS, keep the old ones after it, restart every process;
2. run `python manage.py rotate_secrets` (``--dry-run`` first counts each kind);
3. when it reports no failure, drop the old keys from ENCRYPTION_KEYS and restart.

A value that does not open (its key is gone, or the row was tampered with) is reported by
what it belongs to and left as it was; the command then exits non-zero. Secrets are never
printed. A row changed while the command runs (a secret erased, a new one typed) keeps the
change: it was sealed with the newest key anyway.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from provisioning import crypto, held_results, team_admin, tokens
from provisioning.bulk.models import BulkRow, secret_aad
from provisioning.connections import SEALED
from provisioning.models import Connection, HeldResult


class Command(BaseCommand):
    help = (
        "Re-encrypt client secrets, connections' Basic passwords, bulk passwords and held Send results "
        "with the newest key in ENCRYPTION_KEYS, and drop the shared token cache."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check that every sealed value opens and count what would change, without writing.",
        )

    def handle(self, *args, dry_run=False, **options):
        try:
            self.newest = crypto.parse_key_ring(settings.ENCRYPTION_KEYS)[0][0]
        except crypto.SecretBoxError as exc:
            raise CommandError(str(exc)) from None
        self.dry_run = dry_run
        self.failed = []
        summaries = [
            self.connection_secrets("client_secret", "client secrets"),
            self.connection_secrets("hono_password", "Hono passwords"),
            self.connection_secrets("ditto_password", "Ditto passwords"),
            self.connection_secrets("ditto_client_secret", "Ditto client secrets"),
            self.rows(
                "bulk passwords",
                BulkRow.objects.exclude(secret_sealed="").select_related("job").order_by("pk"),
                "secret_sealed",
                aad=lambda row: secret_aad(row.job.public_id, row.line),
                label=lambda row: f"bulk job {row.job.public_id}, line {row.line}",
            ),
            self.rows(
                "held Send results",
                HeldResult.objects.order_by("pk"),
                "sealed",
                aad=lambda held: held_results.aad(held.correlation_id, held.user),
                label=lambda held: f"the held result of attempt {held.correlation_id}",
            ),
            self.token_cache(),
        ]
        for summary in summaries:
            self.stdout.write(summary)
        if self.failed:
            for line in self.failed:
                self.stderr.write(f"cannot open the sealed value of {line}")
            self.stderr.write(
                "Those rows were left unchanged. Put the key they were sealed with back into "
                "ENCRYPTION_KEYS and run this again, or set a new secret for them in the dashboard."
            )
            raise CommandError(f"failed: {len(self.failed)}")
        self.stdout.write(self.style.SUCCESS("done" if not dry_run else "dry run: nothing was written"))

    def counts(self, kind, resealed, current, failed):
        verb = "would re-encrypt" if self.dry_run else "re-encrypted"
        return f"{kind}: {verb} {resealed}, already on key {self.newest}: {current}, failed: {failed}"

    def connection_secrets(self, name, kind):
        """Re-seal the connections' secret ``name`` (a key of connections.SEALED)."""
        resealed = current = failed = 0
        field = f"{SEALED[name]}_sealed"
        configs = Connection.objects.exclude(**{field: ""}).select_related("team").order_by("pk")
        for config in configs.iterator():
            label = f"team “{config.team.name}”, connection “{config.name}” (id {config.pk})"
            if name != "client_secret":
                label += f", its {kind[:-1]}"
            try:
                # Open even those already on the newest key: a damaged row is reported too.
                old_sealed = getattr(config, field)
                old_kid = crypto.key_id(old_sealed)
                config.reseal(name)
            except crypto.SecretBoxError as exc:
                self.failed.append(f"{label}: {exc}")
                failed += 1
                continue
            if old_kid == self.newest:
                current += 1
            elif self.dry_run:
                resealed += 1
                self.stdout.write(f"would re-encrypt {label} (key {old_kid} -> {self.newest})")
            elif team_admin.reseal_secret(
                config, name=name, old_sealed=old_sealed, old_key=old_kid, new_key=self.newest
            ):
                resealed += 1
                self.stdout.write(f"re-encrypted {label} (key {old_kid} -> {self.newest})")
            else:
                current += 1
        return self.counts(kind, resealed, current, failed)

    def rows(self, kind, queryset, field, *, aad, label):
        """Re-seal ``field`` of every row of ``queryset``; ``aad(row)`` is what it is bound to."""
        resealed = current = failed = 0
        for row in queryset.iterator(chunk_size=1000):
            old_sealed = getattr(row, field)
            try:
                plain = crypto.open_sealed(old_sealed, aad(row))
            except crypto.SecretBoxError as exc:
                self.failed.append(f"{label(row)}: {exc}")
                failed += 1
                continue
            if crypto.key_id(old_sealed) == self.newest:
                current += 1
                continue
            resealed += 1
            if not self.dry_run:
                # Only if unchanged since it was read: a secret erased meanwhile stays erased.
                type(row).objects.filter(pk=row.pk, **{field: old_sealed}).update(
                    **{field: crypto.seal(plain, aad(row))}
                )
        return self.counts(kind, resealed, current, failed)

    def token_cache(self):
        cached = 0
        for config in Connection.objects.order_by("pk").iterator():
            # A Hono + Ditto connection whose Ditto has a client of its own caches two tokens.
            clients = [config, config.ditto_client()] if config.uses_ditto_client else [config]
            for client in clients:
                if tokens.is_cached(client):
                    cached += 1
                    if not self.dry_run:
                        tokens.forget(client)
        verb = "would drop" if self.dry_run else "dropped"
        return (
            f"cached tokens: {verb} {cached} (fetched again, sealed with key {self.newest}, when next needed)"
        )
