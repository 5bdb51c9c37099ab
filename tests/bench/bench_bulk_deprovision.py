"""Bulk de-provision benchmark (issue 14): ``bench_bulk --action deprovision``.

    .venv/bin/python -m tests.bench.bench_bulk --action deprovision [--rows 10000] [--latency 50]
                                                                    [--concurrency 8]
                                                                    [--sandbox-db shared|separate]

As tests/bench/bench_bulk.py, on gunicorn with the sandbox on and a throw-away database, through
a Bosch IoT Suite connection to the sandbox. First, at no latency and untimed, ``--rows``
devices are provisioned for each side: the bare loop's by POSTs of its own, the job's by a
provisioning bulk job (a real worker), so that they are in the inventory as a job made them.
Then, at ``--latency`` ms:

1. A bare loop: ``--concurrency`` threads, each with its own requests.Session and one token
   fetched beforehand, send ``DELETE /{sid}/devices/{id}`` (with the same keepCredentials and
   keepPolicy parameters) for each of its devices, expecting 200.
2. The product: "De-provision what this job created" for the provisioning job, confirmed as the
   page confirms it (the selection snapshotted into the job's rows), run by a real
   ``manage.py worker`` process with the same concurrency. Timed from the confirmation to the
   job's end. The token cache is emptied first, so the job fetches its own token.

Printed: both times and their ratio (target <= 1.2x), the token requests the sandbox answered
during the job (target: one per token lifetime), the worker's peak RSS, and the load average.

Measured on the development box (2 CPUs shared with other work), SQLite, 10,000 devices, 50 ms,
concurrency 8; the ideal is 62.5 s. The last row is ``bench_bulk`` (provisioning) in the same
hour, for the same executor's figures:

| job | sandbox db | load (start/end) | bare loop | job | ratio | tokens | peak RSS | CPU/row |
| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |
| de-provision | separate | 3.6 / 6.3 | 69.6 s | 76.7 s | 1.10x | 1 | 87.8 MB | 3.9 ms |
| de-provision | shared | 0.7 / 3.8 | 69.1 s | 85.0 s | 1.23x | 1 | 86.9 MB | 4.1 ms |
| de-provision | shared, quiet box | 0.5 / 1.6 | 70.4 s | 78.7 s | 1.12x | 1 | 87.4 MB | |
| provision | shared | 6.3 / 4.9 | | | 1.26x | 1 | 87.5 MB | 5.1 ms |

(load: the 1-minute load average; CPU/row: the worker's CPU per device.)

With the sandbox writing into the same SQLite file (``shared``, as ``make run`` has it), the
simulated provider's deletes and the job's audit rows queue on one write lock; the bare loop
writes nothing. The first run of this benchmark found the inventory's ``bulk_update`` taking
more than half the worker's time (a CASE per field and row); it now updates the fields that
changed, one statement per device (provisioning/inventory.py).
"""

import json
import os
import subprocess
import sys
import time

from tests.bench import bulk_runs, harness

TOKEN_LIFETIME = 3599  # the sandbox tenant's (bulk_runs.Sandbox.create_tenant)


def _body(device_id):
    return {
        "id": device_id,
        "hub": {
            "device": {},
            "credentials": {"type": "hashed-password", "secrets": [{"password": "Bench-Pa55-Gen-0001"}]},
        },
        "things": {"thing": {"attributes": {"site": "north"}}},
    }


def bare_devices(url, token, rows, concurrency, *, method):
    """POST (provision) or DELETE the bare loop's ``rows`` devices; seconds taken."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    expected = 201 if method == "POST" else 200
    params = {"keepCredentials": "false", "keepPolicy": "false"}

    def send(session, n):
        device_id = f"{bulk_runs.NAMESPACE}:bare-{n:06d}"
        if method == "POST":
            response = session.post(url, json=_body(device_id), headers=headers, timeout=30)
        else:
            response = session.delete(f"{url}/{device_id}", params=params, headers=headers, timeout=30)
        return [] if response.status_code == expected else [response.status_code]

    return bulk_runs.bare_loop_of(rows, concurrency, send)


def run_deprovision_job(made, user, concurrency, sandbox):
    """The product's run: "De-provision what this job created" for the job ``made``, by a real
    worker process; figures."""
    from provisioning import tokens
    from provisioning.bulk import jobs, selection
    from provisioning.bulk.models import BulkJob, JobStatus, RowState

    form = selection.ActionForm({"action": "deprovision", "from_job": made.pk, "concurrency": concurrency})
    if not form.is_valid():
        raise RuntimeError(form.errors.as_text())
    chosen = selection.choose(made.team, form.cleaned_data)
    if chosen.problem:
        raise RuntimeError(chosen.problem)
    tokens.forget(made.client)  # the job fetches its own token
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--interval", "0.1", "--no-startup-delay"],
        cwd=harness.ROOT,
        env=os.environ.copy(),
    )
    try:
        time.sleep(3)  # the worker is up and idle before the clock starts
        sandbox.reset_counters()
        servers = bulk_runs.gunicorn_workers(int(os.environ["BENCH_PORT"]))
        cpu_before = bulk_runs.cpu_seconds([worker.pid]), bulk_runs.cpu_seconds(servers)
        started = time.perf_counter()
        job, _ = jobs.start_action(made.team, user, {**form.cleaned_data, "fingerprint": chosen.fingerprint})
        confirmed_s = time.perf_counter() - started
        while True:
            status = BulkJob.objects.filter(pk=job.pk).values_list("status", flat=True).get()
            if status in (JobStatus.DONE, JobStatus.PAUSED, JobStatus.CANCELLED):
                break
            if worker.poll() is not None:
                raise RuntimeError("the worker exited")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        worker_rss = bulk_runs.peak_rss_mb(worker.pid)
        worker_cpu = bulk_runs.cpu_seconds([worker.pid]) - cpu_before[0]
        server_cpu = bulk_runs.cpu_seconds(servers) - cpu_before[1]
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    job.refresh_from_db()
    counts = job.row_counts()
    if counts[RowState.DELETED] != job.total_rows:
        raise RuntimeError(f"the job ended {job.status} with {counts}")
    return {
        "elapsed_s": elapsed,
        "confirm_s": confirmed_s,
        "executor_s": (job.finished_at - job.started_at).total_seconds(),
        "token_requests": sandbox.token_count(),
        "worker_peak_rss_mb": worker_rss,
        "throttled": job.throttled,
        "rows": job.total_rows,
        "client_cpu_ms_per_row": worker_cpu / job.total_rows * 1000,
        "server_cpu_ms_per_row": server_cpu / job.total_rows * 1000,
    }


def main(args):
    bulk_runs.prepare(args.rows)
    from provisioning import tokens
    from provisioning.bulk.models import BulkJob

    figures = {
        "action": "deprovision",
        "rows": args.rows,
        "latency_ms": args.latency,
        "concurrency": args.concurrency,
        "database": os.environ["DATABASE_URL"].split(":", 1)[0],
        "sandbox_db": args.sandbox_db,
    }
    with bulk_runs.served(args.sandbox_db) as (base, sandbox):
        tenant = sandbox.create_tenant(base)
        team, user, config, namespace = harness.make_team_client(tenant)
        url = f"{tenant['api_base_url']}/{tenant['service_instance_id']}/devices"
        bare_token = tokens.fetch_token(config).access_token

        # Untimed: the devices each side removes, at no latency.
        sandbox.set_latency(0)
        seeded = time.perf_counter()
        bare_devices(url, bare_token, args.rows, args.concurrency, method="POST")
        bulk_runs.run_job(config, namespace, team, user, args.rows, args.concurrency, sandbox)
        made = BulkJob.objects.select_related("team", "client").get(file_name="bench.csv")
        figures["seeding_s"] = round(time.perf_counter() - seeded, 1)

        sandbox.set_latency(args.latency)
        servers = bulk_runs.gunicorn_workers(int(os.environ["BENCH_PORT"]))
        cpu_before = bulk_runs.self_cpu_seconds(), bulk_runs.cpu_seconds(servers)
        bare_s = bare_devices(url, bare_token, args.rows, args.concurrency, method="DELETE")
        bare_cpu = (
            bulk_runs.self_cpu_seconds() - cpu_before[0],
            bulk_runs.cpu_seconds(servers) - cpu_before[1],
        )
        ours = run_deprovision_job(made, user, args.concurrency, sandbox)
    ideal_s = args.rows * args.latency / 1000 / args.concurrency
    figures.update(bulk_runs.compared(args.rows, ideal_s, bare_s, bare_cpu, ours))
    figures.update(
        product_confirm_s=round(ours["confirm_s"], 2),
        token_lifetime_s=TOKEN_LIFETIME,
    )
    print(json.dumps(figures, indent=2))
    print(
        f"bulk de-provision: {figures['product_time_s']} s vs the bare loop's "
        f"{figures['bare_loop_time_s']} s "
        f"= {figures['product_time_vs_bare']}x (target <= 1.2x; ideal {figures['ideal_time_s']} s); "
        f"token requests {figures['token_requests']} (target 1); worker peak RSS "
        f"{figures['worker_peak_rss_mb']} MB; load average {figures['load_average_at_end']}"
    )
