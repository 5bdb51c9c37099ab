"""Run a bulk job from a CSV file, without the browser: the same intake, executor and audit rows.

    python manage.py provision_bulk --user alice --team T --config C --namespace N devices.csv
        [--concurrency 4] [--credentials hashed-password|none] [--template NAME]
        [--auth-scope default|none|subscription|deviceManagementSubscription]
        [--dry-run] [--credentials-out creds.csv] [--failed-out failed.csv]

The file is checked first, as on the upload page, and the problems are listed by
line. ``--dry-run`` stops there. Otherwise the job runs in this process (a
progress bar on a terminal, a line every few seconds elsewhere); Ctrl+C cancels
it after the rows in flight (twice: stop at once; a worker then resumes it).

Generated passwords are written to ``--credentials-out`` (created with mode 0600),
which is the job's one-time credentials download; without it they are kept
encrypted for 24 hours for one download from the job's page. ``--failed-out`` is
always written, with its header, even when every row was created.

``--template NAME`` starts every row from the newest version of the team's template of that
name, as the upload page's "Start from a template" does (its values fill what a row does not
give; a cell that changes a value it fixes makes the line invalid); --credentials and
--auth-scope default to the template's, and one that changes a value it fixes is refused.

The exit codes are EXIT_HELP below (``--help`` prints them).
"""

import os
import signal
import sys
import threading
import time

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from provisioning import template_use
from provisioning.access import get_provisioner
from provisioning.bulk import credentials, downloads, dry_run, events, executor, intake, jobs, progress
from provisioning.bulk.csvfile import UploadError
from provisioning.bulk.forms import MAX_CONCURRENCY, connection_problems
from provisioning.bulk.models import BulkJob, JobStatus, RowState
from provisioning.device_form import AUTH_SCOPE_DEFAULT
from provisioning.models import Connection, Namespace, Team

SHOW_PROBLEMS = 20
EXIT_HELP = (
    "Exit codes: 0 every row was created or already existed (with --dry-run: every row is valid); "
    "1 could not start (a bad argument, an unknown user, team, connection or namespace, a user "
    "who may not provision, a file that cannot be read): nothing was sent; 3 some rows were "
    "invalid, duplicate, refused, conflicting, failed or of unknown outcome; 4 the job was "
    "cancelled or paused (the reason is printed)."
)


class Command(BaseCommand):
    help = "Provision the devices of a CSV file as a bulk job (same checks, audit and API calls as the page)."

    def create_parser(self, prog_name, subcommand, **kwargs):
        return super().create_parser(prog_name, subcommand, epilog=EXIT_HELP, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file (the columns of the page's template).")
        parser.add_argument("--team", required=True, help="Team slug.")
        parser.add_argument(
            "--connection", "--config", "--client", dest="config", required=True, help="Connection name."
        )
        parser.add_argument("--namespace", required=True)
        parser.add_argument(
            "--user", required=True, help="The acting user: an admin or operator of the team."
        )
        parser.add_argument(
            "--concurrency", type=int, default=4, help=f"Rows in flight, 1 to {MAX_CONCURRENCY}."
        )
        parser.add_argument("--template", metavar="NAME", help="Start every row from this template.")
        parser.add_argument(
            "--credentials", choices=["hashed-password", "none"], help="Default: hashed-password."
        )
        parser.add_argument(
            "--auth-scope",
            choices=["default", "none", "subscription", "deviceManagementSubscription"],
            help="Default: the connection's default.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file and show the preview only."
        )
        parser.add_argument("--credentials-out", metavar="PATH", help="Write the generated passwords here.")
        parser.add_argument(
            "--failed-out",
            metavar="PATH",
            help="Write the rows that were not created here (a header only, when every row was).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar or progress lines.")

    def job_values(self, team, config, options):
        """(template version or None, credentials type, authScope) of the job: the options given,
        else the template's, else the defaults; an option against a value the template fixes is
        refused, as the upload page refuses it."""
        scope = options["auth_scope"]
        given = {
            "credentials_type": options["credentials"],
            "auth_scope": AUTH_SCOPE_DEFAULT if scope == "default" else scope,
        }
        if not options["template"]:
            return (
                None,
                given["credentials_type"] or "hashed-password",
                given["auth_scope"] or AUTH_SCOPE_DEFAULT,
            )
        version = template_use.named_usable(team, options["template"])
        if version is None:
            raise CommandError(f"Team {team.slug!r} has no template named {options['template']!r} in use.")
        if version.template.kind != config.kind:
            raise CommandError(
                f"The template {version.template.name!r} is for {version.template.get_kind_display()} "
                f"connections, not {config.get_kind_display()}."
            )
        values = {}
        for field, option in (("credentials_type", "--credentials"), ("auth_scope", "--auth-scope")):
            mine = getattr(version, field)
            if given[field] is not None and getattr(version, f"{field}_fixed") and given[field] != mine:
                raise CommandError(f"{option}: " + template_use.fixed_words(version, option, mine))
            values[field] = given[field] if given[field] is not None else mine
        if values["credentials_type"] == "psk":
            raise CommandError(
                f"The template {version.template.name!r} makes pre-shared keys, which a bulk job cannot: "
                + (
                    "provision these devices one at a time."
                    if version.credentials_type_fixed
                    else "give --credentials."
                )
            )
        return version, values["credentials_type"], values["auth_scope"]

    def handle(self, *args, **options):
        if not Team.objects.filter(slug=options["team"]).exists():
            raise CommandError(f"There is no team {options['team']!r}.")
        try:
            membership = get_provisioner(options["user"], options["team"])
        except PermissionDenied as refused:
            raise CommandError(str(refused)) from None
        actor, team = membership.user, membership.team
        config = Connection.objects.filter(team=team, name=options["config"]).first()
        if config is None:
            raise CommandError(f"Team {team.slug!r} has no connection named {options['config']!r}.")
        namespace = (
            Namespace.objects.filter(team=team, name=options["namespace"]).select_related("client").first()
        )
        if namespace is None:
            raise CommandError(f"Team {team.slug!r} has no namespace {options['namespace']!r}.")
        if reserved := namespace.reserved_against(config):
            raise CommandError(reserved)
        version, credentials_type, auth_scope = self.job_values(team, config, options)
        problems = connection_problems(config, credentials_type, auth_scope)
        if problems:
            words = {"auth_scope": "--auth-scope", "credentials_type": "--credentials"}
            raise CommandError(" ".join(f"{words[field]}: {text}" for field, text in problems.items()))
        if not 1 <= options["concurrency"] <= MAX_CONCURRENCY:
            raise CommandError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}.")
        for path in (options["credentials_out"], options["failed_out"]):
            if path and os.path.exists(path):
                raise CommandError(f"{path} exists already; choose a new file name.")

        started = time.monotonic()
        try:
            with open(options["file"], "rb") as binary:
                job = intake.create_draft(
                    team=team,
                    actor=actor,
                    config=config,
                    namespace=namespace,
                    binary=binary,
                    file_name=os.path.basename(options["file"]),
                    credentials_type=credentials_type,
                    auth_scope=auth_scope,
                    concurrency=options["concurrency"],
                    template=version,
                )
        except OSError as exc:
            raise CommandError(f"Cannot read {options['file']}: {exc.strerror}.") from None
        except UploadError as exc:
            raise CommandError(f"The file was not accepted: {exc.message}") from None
        events.record(
            job,
            "bulk.upload",
            actor=actor,
            message=f"{job.total_rows} rows from {job.file_name} (command line).",
        )
        self.preview(job, time.monotonic() - started)

        found = job.row_counts()
        if options["dry_run"]:
            jobs.discard(job, actor)
            self.stdout.write("Dry run: nothing was sent.")
            if found[RowState.INVALID] or found[RowState.DUPLICATE]:
                sys.exit(3)
            return
        if not found[RowState.PENDING]:
            self.write_failed(job, options["failed_out"])
            jobs.discard(job, actor)
            self.stderr.write("No row can be sent; nothing was done.")
            sys.exit(3)

        jobs.start(job, actor, run_in_worker=False)
        outcome = self.run(job, actor, show=not options["no_progress"])
        job.refresh_from_db()
        return self.report(job, actor, outcome, options["failed_out"], options["credentials_out"])

    def preview(self, job, seconds):
        found = job.row_counts()
        self.stdout.write(f"Checked {job.total_rows:,} rows of {job.file_name} in {seconds:.1f} s:")
        self.stdout.write(f"  will create:                {found[RowState.PENDING]:,}")
        for state, label in (
            (RowState.INVALID, "invalid"),
            (RowState.DUPLICATE, "duplicate in file"),
            (RowState.PROVISIONED, "already provisioned here"),
        ):
            if found[state]:
                self.stdout.write(f"  {label + ':':<27} {found[state]:,}")
        if job.ignored_columns:
            self.stdout.write(self.style.WARNING(f"Ignored columns: {', '.join(job.ignored_columns)}"))
        problems = job.rows.filter(state__in=[RowState.INVALID, RowState.DUPLICATE]).order_by("line")
        for row in problems[:SHOW_PROBLEMS]:
            self.stdout.write(f"  line {row.line}: {row.message}")
        more = found[RowState.INVALID] + found[RowState.DUPLICATE] - SHOW_PROBLEMS
        if more > 0:
            self.stdout.write(f"  ... and {more:,} more (see --failed-out)")
        preview = dry_run.first_preview(job)
        if preview and "steps" in preview:
            count = len(preview["steps"])
            self.stdout.write(
                f"The {count} requests of each row, as line {preview['line']}'s (secrets masked):"
            )
            for number, step in enumerate(preview["steps"], start=1):
                self.stdout.write(f"{number}. {step['title']}: {step['method']} {step['url']}")
                if step["body"]:
                    self.stdout.write(step["body"])
        elif preview:
            self.stdout.write(f"First request (line {preview['line']}, secrets masked):")
            self.stdout.write(f"{preview['method']} {preview['url']}")
            self.stdout.write(preview["body"])

    def run(self, job, actor, *, show):
        cancel = threading.Event()
        bar = ProgressBar(self.stderr, enabled=show)
        previous = signal.getsignal(signal.SIGINT)

        def on_sigint(signum, frame):
            if cancel.is_set():
                signal.signal(signal.SIGINT, previous)
                raise KeyboardInterrupt
            cancel.set()

        def on_progress(current):
            if cancel.is_set() and not getattr(on_progress, "cancelled", False):
                on_progress.cancelled = True
                jobs.cancel(current, actor)
                bar.note("Cancelling: the rows in flight finish (Ctrl+C again stops at once).")
            bar.update(progress.progress(current))

        signal.signal(signal.SIGINT, on_sigint)
        try:
            while True:
                outcome = executor.run(job.pk, on_progress=on_progress)
                if outcome != "again":
                    break
        finally:
            signal.signal(signal.SIGINT, previous)
        bar.update(progress.progress(BulkJob.objects.get(pk=job.pk)), final=True)
        return outcome

    def write_failed(self, job, path):
        """The rows that were not created, as the page's download: a header at least."""
        if not path:
            return
        with open(path, "x", encoding="utf-8", newline="") as out:
            for line in downloads.failed_rows_csv(job):
                out.write(line)
        self.stdout.write(f"Rows that were not created: {path}")

    def report(self, job, actor, outcome, failed_out, credentials_out):
        found = progress.progress(job)
        c = found.counts
        self.stdout.write(
            f"Job {job.pk}: {c[RowState.CREATED]:,} created, {c[RowState.EXISTS]:,} already existed, "
            f"{c[RowState.CONFLICT]:,} conflict, {c[RowState.FAILED]:,} failed, "
            f"{c[RowState.UNKNOWN]:,} unknown, "
            f"{found.remaining:,} not sent, {found.skipped:,} skipped"
            + (f" ({found.rate_text})" if found.rate_text else "")
            + "."
        )
        self.write_failed(job, failed_out)
        if job.status in (JobStatus.DONE, JobStatus.CANCELLED) and credentials.credentials_available(job):
            if credentials_out:
                text = credentials.take_credentials(job, actor)
                fd = os.open(credentials_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                    out.write(text or "")
                self.stdout.write(f"Generated passwords (erased here now): {credentials_out}")
            else:
                self.stdout.write(
                    "Generated passwords are kept encrypted for 24 hours, for one download from "
                    f"/t/{job.team.slug}/bulk/{job.pk}/credentials/."
                )
        if job.status == JobStatus.PAUSED:
            self.stderr.write(f"Paused: {job.paused_reason}")
        if outcome in ("paused", "cancelled", "lost", "stopped") or job.status != JobStatus.DONE:
            sys.exit(4)
        bad = (
            c[RowState.INVALID]
            + c[RowState.DUPLICATE]
            + c[RowState.CONFLICT]
            + c[RowState.FAILED]
            + c[RowState.UNKNOWN]
        )
        if bad:
            sys.exit(3)


class ProgressBar:
    """A one-line bar on a terminal; elsewhere a plain line every few seconds.

    ``stream`` is the command's OutputWrapper; every write passes its own line ending."""

    WIDTH = 30
    PLAIN_EVERY = 5.0

    def __init__(self, stream, *, enabled=True):
        self.stream = stream
        self.enabled = enabled
        self.tty = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.last = 0.0

    def note(self, text):
        if self.enabled:
            self.stream.write(("\n" if self.tty else "") + text + "\n", ending="")
            self.stream.flush()

    def update(self, p, final=False):
        if not self.enabled:
            return
        now = time.monotonic()
        text = f"{p.done:,}/{p.to_send:,} {p.percent:3d}%"
        if p.rate_text:
            text += f"  {p.rate_text}"
        if p.eta_text and not final:
            text += f"  about {p.eta_text} left"
        counts = (
            f"  created {p.created + p.exists:,}  failed {p.failed + p.conflict:,}  unknown {p.unknown:,}"
        )
        if self.tty:
            filled = int(self.WIDTH * p.percent / 100)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.stream.write(f"\r[{bar}] {text}{counts}\x1b[K" + ("\n" if final else ""), ending="")
            self.stream.flush()
        elif final or now - self.last >= self.PLAIN_EVERY:
            self.last = now
            self.stream.write(f"{text}{counts}\n", ending="")
            self.stream.flush()
