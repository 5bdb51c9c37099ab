"""The background worker: django-tasks' db_worker, plus the care bulk jobs need.

    python manage.py worker [--interval 1] [--queue-name default] [--batch] [--max-tasks N]

It runs the same loop as ``manage.py db_worker`` (the same options), and in addition:

- before it takes its first task, and every ``--sweep`` seconds after, it marks
  failed the tasks a dead worker of this host left RUNNING, enqueues again every
  bulk job (or upload being checked) that should be worked on but has nobody (a
  worker killed with kill -9 or lost with its container: db_worker never runs a
  task again once a worker claimed it), erases the secrets of jobs past their 24
  hours and drops abandoned drafts (provisioning.bulk.tasks.sweep). So a job whose
  worker was killed continues as soon as a worker starts again on the same host;
  on another host, once the dead worker's lease has expired;
- it owns a stop event: on SIGTERM or Ctrl+C it is set, and a bulk job the worker
  is running stops after the rows in flight and is queued again for the next worker
  (a second signal stops at once).

Its worker id names its host and process (provisioning.bulk.lease.new_owner), so
the sweep can tell a task of a dead worker from one of a live worker. There is no
random start-up delay unless ``--startup-delay`` asks for one (the sweep at start
is what brings a killed worker's job back quickly).

Several workers may run side by side (use PostgreSQL for that): each bulk job's
lease lets one executor run it at a time.
"""

import logging
import threading

from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection
from django_tasks_db.management.commands.db_worker import Worker, valid_interval, valid_max_tasks

from provisioning.bulk import lease, tasks

logger = logging.getLogger("provisioning.worker")


class BulkAwareWorker(Worker):
    """db_worker's worker; a shutdown signal also sets ``stop``, which the bulk job it runs watches."""

    def __init__(self, *, stop, **kwargs):
        super().__init__(**kwargs)
        self.stop = stop

    def shutdown(self, signum, frame):
        self.stop.set()
        super().shutdown(signum, frame)

    def run_task(self, db_task_result):
        token = tasks.worker_stop.set(self.stop)  # for this task only, like translation.override
        try:
            super().run_task(db_task_result)
        finally:
            tasks.worker_stop.reset(token)


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
        parser.add_argument(
            "--worker-id", default=None, help="Unique in the worker pool (default: host, process, random)."
        )
        parser.add_argument(
            "--sweep",
            type=valid_interval,
            default=10,
            help="Seconds between looks for stalled bulk jobs and expired secrets (0: only at start).",
        )
        parser.add_argument(
            "--startup-delay",
            action="store_true",
            dest="startup_delay",
            help="Wait up to a second before the first task (many workers starting at once).",
        )
        parser.add_argument("--no-startup-delay", action="store_false", dest="startup_delay")

    def handle(self, *args, **options):
        self.configure_logging(options["verbosity"])
        tasks.sweep()
        connection.close()
        stop = threading.Event()
        if options["sweep"]:
            thread = threading.Thread(target=self.sweeper, args=(options["sweep"], stop), daemon=True)
            thread.start()
        worker = BulkAwareWorker(
            stop=stop,
            queue_names=options["queue_name"].split(","),
            interval=options["interval"],
            batch=options["batch"],
            backend_name="default",
            startup_delay=options["startup_delay"],
            max_tasks=options["max_tasks"],
            worker_id=options["worker_id"] or lease.new_owner(),
            excluded_queue_names=[],
        )
        worker.configure_signals()
        try:
            worker.run()
        finally:
            stop.set()
            worker.reset_signals()

    def sweeper(self, every, stop):
        while not stop.wait(every):
            try:
                tasks.sweep()
            except DatabaseError:
                logger.exception("The bulk job sweep failed; trying again in %s s", every)
            finally:
                connection.close()  # this thread's connection

    def configure_logging(self, verbosity):
        level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
        for name in ("django_tasks_db", "django_tasks", "provisioning.worker", "provisioning.bulk"):
            logging.getLogger(name).setLevel(level)
