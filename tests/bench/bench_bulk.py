"""Bulk benchmark (issue 5): a 10,000-row job, and the validation of a 100,000-row upload.

    .venv/bin/python -m tests.bench.bench_bulk [--rows 10000] [--latency 50] [--concurrency 8]
                                               [--upload-rows 100000] [--skip-upload]
                                               [--sandbox-db shared|separate]
                                               [--provider bosch|hono_ditto]
                                               [--action provision|deprovision]

``--provider hono_ditto`` runs the same comparison through an Eclipse Hono + Ditto
connection instead (issue 13): see tests/bench/bench_bulk_hono_ditto.py. ``--action
deprovision`` compares a bulk de-provision ("de-provision what this job created") with a bare
loop of the same DELETEs (issue 14): see tests/bench/bench_bulk_deprovision.py.

Everything runs as deployed (tests/bench/harness.py): gunicorn serving the app with
the sandbox on, a throw-away database (SQLite unless BENCH_DATABASE_URL is set).

1. A bare loop: ``--concurrency`` threads, each with its own requests.Session and one
   pre-fetched token, POST ``--rows`` devices to the sandbox at ``--latency`` ms.
2. The product: the same number of rows as a bulk job (intake, confirm, enqueue), run
   by a real ``manage.py worker`` process with the same concurrency. Timed from the
   enqueue to the job's end; token requests counted by the sandbox; the worker's
   peak RSS read from /proc (VmHWM) before it is stopped.
3. A ``--upload-rows`` CSV uploaded through the real upload page to a gunicorn worker
   of its own: the time the POST takes (transfer, first look, storing the file) and that
   web worker's peak RSS; then a real ``manage.py worker`` validates it: the time from
   its start to the draft, how many progress steps the job page could show on the way
   (distinct values of the job's progress seen by polling every 0.1 s), its peak RSS.

``--sandbox-db separate`` serves the sandbox from a second gunicorn with a database of
its own, as a real provider would be: the job's audit writes then no longer wait on the
simulated provider's writes (on SQLite both otherwise share one write lock). The
default, ``shared``, is the deployment as ``make run`` has it.

Targets (issue 11): the job's time <= 1.2x the bare loop's time, one token request per
token lifetime, worker peak RSS <= 200 MB; a 100,000-row upload answered in <= 3 s,
validated in the worker in <= 30 s with its progress visible, peak RSS of either
process <= 200 MB.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import requests

from tests.bench import bench_bulk_deprovision, bench_bulk_hono_ditto, harness
from tests.bench.bulk_runs import (
    NAMESPACE,
    bare_loop_of,
    cpu_seconds,
    csv_file,
    gunicorn_workers,
    peak_rss_mb,
    prepare,
    run_job,
    self_cpu_seconds,
    served,
)


def _body(device_id):
    return {
        "id": device_id,
        "hub": {
            "device": {},
            "credentials": {"type": "hashed-password", "secrets": [{"password": "Bench-Pa55-Gen-0001"}]},
        },
        "things": {"thing": {"attributes": {"site": "north", "floor": 3}}},
    }


def bare_loop(url, token, rows, concurrency):
    """POST ``rows`` devices with ``concurrency`` threads; return seconds taken."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def send(session, n):
        response = session.post(url, json=_body(f"{NAMESPACE}:bare-{n:06d}"), headers=headers, timeout=30)
        return [] if response.status_code == 201 else [response.status_code]

    return bare_loop_of(rows, concurrency, send)


def upload(base, username, password, team_slug, config, namespace, rows):
    """POST a CSV of ``rows`` rows through the upload page; return (seconds, job id)."""
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=30)
    response = session.post(
        f"{base}/accounts/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=30,
    )
    response.raise_for_status()
    page = session.get(f"{base}/t/{team_slug}/bulk/new/", timeout=30)
    page.raise_for_status()
    data = csv_file(rows, "upload")
    started = time.perf_counter()
    response = session.post(
        f"{base}/t/{team_slug}/bulk/new/",
        data={
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "config": config.pk,
            "namespace": namespace.pk,
            "credentials_type": "hashed-password",
            "auth_scope": "__default__",
            "concurrency": "8",
        },
        files={"file": ("upload.csv", data, "text/csv")},
        headers={"Referer": f"{base}/t/{team_slug}/bulk/new/"},
        allow_redirects=False,
        timeout=120,
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 302:
        raise RuntimeError(f"the upload answered {response.status_code}: {response.text[:500]}")
    return elapsed, len(data), response.headers["Location"]


def validate_in_worker(job_id):
    """Run a real worker until the uploaded job is a draft; return (seconds, progress steps, peak RSS MB)."""
    from provisioning.bulk.models import BulkJob, JobStatus

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--interval", "0.1", "--no-startup-delay"],
        cwd=harness.ROOT,
        env=os.environ.copy(),
    )
    started = time.perf_counter()
    seen = set()
    try:
        while True:
            status, done = BulkJob.objects.filter(pk=job_id).values_list("status", "validated_bytes").get()
            seen.add(done)
            if status != JobStatus.VALIDATING:
                break
            if worker.poll() is not None:
                raise RuntimeError("the worker exited")
            if time.perf_counter() - started > 300:
                raise RuntimeError("validation took more than 300 s")
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        rss = peak_rss_mb(worker.pid)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    if status != JobStatus.DRAFT:
        raise RuntimeError(f"validation ended {status}")
    return elapsed, len(seen - {0}), rss


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--latency", type=int, default=50, help="sandbox latency in ms")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--upload-rows", type=int, default=100_000)
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument("--sandbox-db", choices=["shared", "separate"], default="shared")
    parser.add_argument(
        "--ditto-client",
        action="store_true",
        help="hono_ditto only: Ditto has an OAuth2 client of its own at a second token endpoint",
    )
    parser.add_argument(
        "--provider",
        choices=["bosch", "hono_ditto"],
        default="bosch",
        help="hono_ditto: the job and the bare loop through a Hono + Ditto connection, four calls a "
        "device (bench_bulk_hono_ditto.py; --upload-rows does not apply)",
    )
    parser.add_argument(
        "--action",
        choices=["provision", "deprovision"],
        default="provision",
        help="deprovision: a bulk de-provision of --rows devices against a bare loop of the same DELETEs "
        "(bench_bulk_deprovision.py; Bosch; --upload-rows does not apply)",
    )
    args = parser.parse_args()
    if args.action == "deprovision":
        bench_bulk_deprovision.main(args)
        return
    if args.provider == "hono_ditto":
        bench_bulk_hono_ditto.main(args)
        return

    prepare(max(args.upload_rows, args.rows))
    from provisioning import tokens

    figures = {
        "rows": args.rows,
        "latency_ms": args.latency,
        "concurrency": args.concurrency,
        "sandbox_db": args.sandbox_db,
        "database": os.environ["DATABASE_URL"].split(":", 1)[0],
    }
    ideal = args.concurrency / (args.latency / 1000)
    with served(args.sandbox_db) as (base, sandbox):
        tenant = sandbox.create_tenant(base)
        team, user, config, namespace = harness.make_team_client(tenant)
        url = f"{tenant['api_base_url']}/{tenant['service_instance_id']}/devices"
        sandbox.set_latency(args.latency)
        bare_token = tokens.fetch_token(config).access_token
        servers_pids = gunicorn_workers(int(os.environ["BENCH_PORT"]))
        cpu_before = self_cpu_seconds(), cpu_seconds(servers_pids)
        bare_s = bare_loop(url, bare_token, args.rows, args.concurrency)
        bare_cpu = self_cpu_seconds() - cpu_before[0], cpu_seconds(servers_pids) - cpu_before[1]
        ours = run_job(config, namespace, team, user, args.rows, args.concurrency, sandbox)
    ours_rate = args.rows / ours["elapsed_s"]
    figures.update(
        ideal_devices_per_s=round(ideal, 1),
        product_devices_per_s=round(ours_rate, 1),
        product_vs_ideal=round(ours_rate / ideal, 3),
        product_executor_devices_per_s=round(args.rows / ours["executor_s"], 1),
        bare_loop_devices_per_s=round(args.rows / bare_s, 1),
        product_time_s=round(ours["elapsed_s"], 1),
        bare_loop_time_s=round(bare_s, 1),
        product_time_vs_bare=round(ours["elapsed_s"] / bare_s, 3),
        token_requests=ours["token_requests"],
        token_lifetime_s=3599,
        worker_peak_rss_mb=round(ours["worker_peak_rss_mb"], 1),
        throttled=ours["throttled"],
        # Where the machine's CPU went, per row: the sending side (the bare loop's threads, or
        # the worker process) and the sandbox's gunicorn workers (the provider, on the same box).
        bare_loop_client_cpu_ms_per_row=round(bare_cpu[0] / args.rows * 1000, 2),
        bare_loop_server_cpu_ms_per_row=round(bare_cpu[1] / args.rows * 1000, 2),
        worker_cpu_ms_per_row=round(ours["client_cpu_ms_per_row"], 2),
        worker_run_server_cpu_ms_per_row=round(ours["server_cpu_ms_per_row"], 2),
        load_average_at_end=os.getloadavg(),
        cpus=os.cpu_count(),
    )

    if not args.skip_upload:
        password = "bench-upload-password-1"
        user.set_password(password)
        user.save()
        with harness.server(workers=1, threads=1) as base:
            port = int(os.environ["BENCH_PORT"])
            (worker_pid,) = gunicorn_workers(port)
            before = peak_rss_mb(worker_pid)
            seconds, size, location = upload(
                base, user.username, password, team.slug, config, namespace, args.upload_rows
            )
            web_rss = peak_rss_mb(worker_pid)
        job_id = int(location.rstrip("/").rsplit("/", 1)[1])
        validation_s, steps, validation_rss = validate_in_worker(job_id)
        figures.update(
            upload_rows=args.upload_rows,
            upload_mb=round(size / 1024 / 1024, 1),
            upload_request_s=round(seconds, 2),
            upload_web_worker_peak_rss_mb=round(web_rss, 1),
            upload_web_worker_rss_before_mb=round(before, 1),
            validation_in_worker_s=round(validation_s, 2),
            validation_progress_steps_seen=steps,
            validation_worker_peak_rss_mb=round(validation_rss, 1),
        )

    print(json.dumps(figures, indent=2))
    print(
        f"job: {figures['product_devices_per_s']}/s = {figures['product_vs_ideal']:.1%} of the ideal "
        f"{figures['ideal_devices_per_s']}/s; {figures['product_time_vs_bare']}x the bare "
        f"loop's time (target <= 1.2x); token requests {figures['token_requests']} (target 1); "
        f"worker peak RSS {figures['worker_peak_rss_mb']} MB (target <= 200)"
    )
    print(
        f"CPU per row: bare loop {figures['bare_loop_client_cpu_ms_per_row']} ms + sandbox "
        f"{figures['bare_loop_server_cpu_ms_per_row']} ms; worker {figures['worker_cpu_ms_per_row']} ms + "
        f"sandbox {figures['worker_run_server_cpu_ms_per_row']} ms (on {figures['cpus']} CPUs)"
    )
    if not args.skip_upload:
        print(
            f"upload: {args.upload_rows:,} rows answered in {figures['upload_request_s']} s (target <= 3), "
            f"web worker peak RSS {figures['upload_web_worker_peak_rss_mb']} MB; validated in the worker in "
            f"{figures['validation_in_worker_s']} s (target <= 30) with "
            f"{figures['validation_progress_steps_seen']} progress steps seen, worker peak RSS "
            f"{figures['validation_worker_peak_rss_mb']} MB (targets <= 200)"
        )


if __name__ == "__main__":
    main()
