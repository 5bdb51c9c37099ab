"""The background worker: django-tasks' db_worker, plus the care bulk jobs need.

    python manage.py worker [--interval 1] [--queue-name default] [--batch] [--max-tasks N]

It runs the same loop as ``manage.py db_worker`` (the same options), and in addition:

- before it takes its first task, and every ``--sweep`` seconds after, it enqueues
  again every bulk job that should be running but whose executor is gone (a worker
  killed with kill -9 or lost with its container: db_worker never runs a task again
  once a worker claimed it), erases the secrets of jobs past their 24 hours and
  drops abandoned drafts (provisioning.bulk.jobs.recover_stalled, purge_expired);
- on SIGTERM or Ctrl+C, a bulk job it is running stops after the rows in flight and
  is queued again for the next worker (a second signal stops at once).

Several workers may run side by side (use PostgreSQL for that): each bulk job's
lease lets one executor run it at a time.
"""

import logging
import threading

from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker, valid_interval, valid_max_tasks

from provisioning.bulk import executor, jobs

logger = logging.getLogger("provisioning.worker")


class BulkAwareWorker(Worker):
    """db_worker's worker; a shutdown signal also asks a running bulk job to stop cleanly."""

    def shutdown(self, signum, frame):
        executor.request_stop()
        super().shutdown(signum, frame)


def sweep():
    """One round of recovery and clean-up; returns what it did (for logs and tests)."""
    revived = jobs.recover_stalled()
    cleaned = jobs.purge_expired()
    if revived:
        logger.warning("Re-enqueued bulk jobs whose worker had stopped: %s", ", ".join(map(str, revived)))
    return {"revived": revived, **cleaned}


class Command(BaseCommand):
    help = "Run the background worker (db_worker) and recover bulk jobs whose worker died."

    def add_arguments(self, parser):
        parser.add_argument(
            "--queue-name", default="default", help="Queues to process, comma-separated, or '*'."
        )
        parser.add_argument(
            "--interval", type=valid_interval, default=1, help="Seconds to wait when no task is ready."
        )
        parser.add_argument("--batch", action="store_true", help="Run the tasks that are ready, then exit.")
        parser.add_argument("--max-tasks", type=valid_max_tasks, default=None)
        parser.add_argument("--worker-id", default=None, help="Unique in the worker pool (default: random).")
        parser.add_argument(
            "--sweep",
            type=valid_interval,
            default=10,
            help="Seconds between looks for stalled bulk jobs and expired secrets (0: only at start).",
        )
        parser.add_argument("--no-startup-delay", action="store_false", dest="startup_delay")

    def handle(self, *args, **options):
        self._configure_logging(options["verbosity"])
        sweep()
        connection.close()
        stop = threading.Event()
        if options["sweep"]:
            thread = threading.Thread(target=self._sweeper, args=(options["sweep"], stop), daemon=True)
            thread.start()
        worker = BulkAwareWorker(
            queue_names=options["queue_name"].split(","),
            interval=options["interval"],
            batch=options["batch"],
            backend_name="default",
            startup_delay=options["startup_delay"],
            max_tasks=options["max_tasks"],
            worker_id=options["worker_id"] or get_random_string(32),
            excluded_queue_names=[],
        )
        worker.configure_signals()
        try:
            worker.run()
        finally:
            stop.set()
            worker.reset_signals()

    def _sweeper(self, every, stop):
        while not stop.wait(every):
            try:
                sweep()
            except DatabaseError:
                logger.exception("The bulk job sweep failed; trying again in %s s", every)
            finally:
                connection.close()  # this thread's connection

    def _configure_logging(self, verbosity):
        level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
        for name in ("django_tasks_db", "django_tasks", "provisioning.worker", "provisioning.bulk"):
            log = logging.getLogger(name)
            log.setLevel(level)
