"""Derive the device inventory again from the audit log.

The inventory (provisioning.inventory) is kept in step with the audit log as rows are
written; this command throws a team's inventory away and replays its whole log, in the
order it was written. Run it if the inventory was ever changed by hand, or to check it:
``--check`` derives it in a transaction that is rolled back and says whether it matches.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from provisioning import inventory
from provisioning.models import Device, Team

COMPARED = [
    "team_id",
    "connection_ref",
    "device_id",
    "state",
    "created_attempt",
    "bulk_job",
    "open_attempt",
    "check_result",
]


def snapshot(teams):
    return set(Device.objects.filter(team__in=teams).values_list(*COMPARED))


class Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Derive the device inventory again from the audit log (all teams, or --team)."

    def add_arguments(self, parser):
        parser.add_argument("--team", help="Only this team (its slug).")
        parser.add_argument(
            "--check",
            action="store_true",
            help="Derive it, keep nothing, and say whether it equals the inventory (exit 1 if not).",
        )

    def handle(self, *args, team=None, check=False, **options):
        teams = Team.objects.all()
        if team:
            teams = teams.filter(slug=team)
            if not teams.exists():
                raise CommandError(f"No team with the slug {team!r}.")
        if not check:
            count = inventory.rebuild(teams)
            self.stdout.write(f"Inventory derived from the audit log: {count} device rows.")
            return
        kept = snapshot(teams)
        try:
            with transaction.atomic():
                inventory.rebuild(teams)
                derived = snapshot(teams)
                raise Rollback
        except Rollback:
            pass
        if kept != derived:
            raise CommandError(
                f"The inventory differs from the audit log: {len(kept - derived)} rows not derived, "
                f"{len(derived - kept)} rows missing. Run rebuild_inventory to derive it again."
            )
        self.stdout.write(f"The inventory matches the audit log ({len(kept)} device rows).")
