"""What the bulk benchmarks share (bench_bulk.py for Bosch, bench_bulk_hono_ditto.py): the CSV
of a job, the bare loop it is measured against, the sandbox's knobs and counters, where CPU and
memory went, and the product's run of a job by a real ``manage.py worker`` process."""

import contextlib
import io
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from tests.bench import harness

NAMESPACE = "com.bench"


def csv_file(rows, prefix):
    out = io.StringIO()
    out.write("name,password,auth_id,enabled,via,definition,attr.site,attr.floor\n")
    for n in range(rows):
        out.write(f"{prefix}-{n:06d},,,true,,com.bench:sensor:1.0.0,north,{n % 10}\n")
    return out.getvalue().encode()


def bare_loop_of(rows, concurrency, send):
    """Seconds that ``concurrency`` threads, each with a requests Session of its own, take to
    call ``send(session, n)`` for every n in range(rows). ``send`` returns what went wrong (a
    list, empty when nothing did); if anything did, RuntimeError says what."""
    counter = iter(range(rows))
    lock = threading.Lock()
    errors = []

    def work():
        session = requests.Session()
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            errors.extend(send(session, n))

    threads = [threading.Thread(target=work) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"the bare loop got {len(errors)} failed answers: {sorted(set(errors))[:5]}")
    return elapsed


def peak_rss_mb(pid):
    """VmHWM (the peak resident set size) of a live process, in MB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) / 1024


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """User plus system CPU time used so far by the processes ``pids`` (from /proc)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def self_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def gunicorn_workers(port):
    """PIDs of the gunicorn worker processes listening on ``port`` (children of the master)."""
    masters = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"gunicorn" in part for part in cmdline[:2]) and f"127.0.0.1:{port}".encode() in cmdline:
            masters.append(proc.name)
    workers = []
    for master in masters:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        workers.extend(int(pid) for pid in children)
    return workers


class Sandbox:
    """The sandbox's knobs and counters, in this process's database or in a separate one."""

    def __init__(self, env=None):
        self.env = env  # None: the sandbox shares this process's database

    def _remote(self, code):
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=harness.ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(result.stdout.strip().splitlines()[-1])

    def create_hono_tenant(self, tenant_id):
        """A Hono tenant of the sandbox's registry, here or in the sandbox's own database."""
        if self.env is None:
            from provisioning.sandbox import seed

            seed.create_hono_tenant(tenant_id, data={"enabled": True})
            return tenant_id
        return self._remote(
            "import json; from provisioning.sandbox import seed; "
            f"seed.create_hono_tenant({tenant_id!r}, data={{'enabled': True}}); "
            f"print(json.dumps({tenant_id!r}))"
        )

    def create_tenant(self, base, style="suite"):
        if self.env is None:
            from provisioning.sandbox import seed

            return seed.create_tenant(
                f"{base}/sandbox", namespaces=[NAMESPACE], token_lifetime=3599, style=style
            )
        return self._remote(
            "import json; from provisioning.sandbox import seed; "
            f"print(json.dumps(seed.create_tenant({base + '/sandbox'!r}, namespaces=[{NAMESPACE!r}], "
            f"token_lifetime=3599, style={style!r})))"
        )

    def _knobs(self, call):
        """knobs.<call>, e.g. "token_count()", here or in the sandbox's own database."""
        if self.env is None:
            from provisioning.sandbox import knobs

            name, _, arguments = call.partition("(")
            kwargs = dict(part.split("=") for part in arguments.rstrip(")").split(",") if part)
            return getattr(knobs, name)(**{key: int(value) for key, value in kwargs.items()})
        return self._remote(
            f"import json; from provisioning.sandbox import knobs; print(json.dumps(knobs.{call}))"
        )

    def set_latency(self, ms):
        self._knobs(f"configure(latency_ms={int(ms)})")

    def reset_counters(self):
        self._knobs("reset_counters()")

    def token_count(self):
        return self._knobs("token_count()")


def run_job(config, namespace, team, user, rows, concurrency, sandbox):
    """The product's run: a bulk job executed by a real worker process. Returns figures."""
    from provisioning.bulk import intake, jobs
    from provisioning.bulk.models import BulkJob, JobStatus, RowState

    job = intake.create_draft(
        team=team,
        actor=user,
        config=config,
        namespace=namespace,
        binary=io.BytesIO(csv_file(rows, "ours")),
        file_name="bench.csv",
        credentials_type="hashed-password",
        auth_scope="__default__",
        concurrency=concurrency,
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--interval", "0.1", "--no-startup-delay"],
        cwd=harness.ROOT,
        env=os.environ.copy(),
    )
    try:
        time.sleep(3)  # the worker is up and idle before the clock starts
        sandbox.reset_counters()
        servers = gunicorn_workers(int(os.environ["BENCH_PORT"]))
        cpu_before = cpu_seconds([worker.pid]), cpu_seconds(servers)
        started = time.perf_counter()
        jobs.start(job, user)
        while True:
            status = BulkJob.objects.filter(pk=job.pk).values_list("status", flat=True).get()
            if status in (JobStatus.DONE, JobStatus.PAUSED, JobStatus.CANCELLED):
                break
            if worker.poll() is not None:
                raise RuntimeError("the worker exited")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        worker_rss = peak_rss_mb(worker.pid)
        worker_cpu = cpu_seconds([worker.pid]) - cpu_before[0]
        server_cpu = cpu_seconds(servers) - cpu_before[1]
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    job.refresh_from_db()
    counts = job.row_counts()
    if counts[RowState.CREATED] != rows:
        raise RuntimeError(f"the job ended {job.status} with {counts}")
    return {
        "elapsed_s": elapsed,
        "executor_s": (job.finished_at - job.started_at).total_seconds(),
        "token_requests": sandbox.token_count(),
        "worker_peak_rss_mb": worker_rss,
        "throttled": job.throttled,
        "client_cpu_ms_per_row": worker_cpu / rows * 1000,
        "server_cpu_ms_per_row": server_cpu / rows * 1000,
    }


def compared(rows, ideal_s, bare_s, bare_cpu, ours):
    """The figures every bulk bench prints of its job (``ours``, run_job's) beside its bare
    loop (``bare_s`` seconds, ``bare_cpu`` its client and server CPU seconds)."""
    return {
        "ideal_time_s": round(ideal_s, 1),
        "bare_loop_time_s": round(bare_s, 1),
        "product_time_s": round(ours["elapsed_s"], 1),
        "product_executor_time_s": round(ours["executor_s"], 1),
        "product_time_vs_bare": round(ours["elapsed_s"] / bare_s, 3),
        "bare_loop_devices_per_s": round(rows / bare_s, 1),
        "product_devices_per_s": round(rows / ours["elapsed_s"], 1),
        "token_requests": ours["token_requests"],
        "worker_peak_rss_mb": round(ours["worker_peak_rss_mb"], 1),
        "throttled": ours["throttled"],
        "bare_loop_client_cpu_ms_per_row": round(bare_cpu[0] / rows * 1000, 2),
        "bare_loop_server_cpu_ms_per_row": round(bare_cpu[1] / rows * 1000, 2),
        "worker_cpu_ms_per_row": round(ours["client_cpu_ms_per_row"], 2),
        "worker_run_server_cpu_ms_per_row": round(ours["server_cpu_ms_per_row"], 2),
        "load_average_at_end": os.getloadavg(),
        "cpus": os.cpu_count(),
    }


def prepare(max_rows):
    """Django and the throw-away database of a bulk bench, bulk jobs allowed ``max_rows`` rows."""
    harness.configure()
    os.environ["BULK_MAX_ROWS"] = str(max_rows)
    harness.setup_django()
    harness.prepare_database()


@contextlib.contextmanager
def served(sandbox_db):
    """gunicorn with the sandbox on, in the app's database (``shared``) or, with ``separate``,
    a second gunicorn serving it from a database of its own; yields (base URL, Sandbox)."""
    if sandbox_db == "separate":
        with separate_sandbox_server() as (base, env):
            yield base, Sandbox(env)
    else:
        with harness.server(workers=2, threads=16) as base:
            yield base, Sandbox(None)


@contextlib.contextmanager
def separate_sandbox_server():
    """A second gunicorn serving the sandbox from a database of its own; yields (base URL, env)."""
    workdir = tempfile.mkdtemp(prefix="provisioner-bench-sandbox-")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir}/sandbox.sqlite3",
        "BENCH_PORT": str(harness.free_port()),
    }
    if os.environ.get("BENCH_SANDBOX_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["BENCH_SANDBOX_DATABASE_URL"]
    for command in (["migrate", "-v", "0"], ["createcachetable"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=harness.ROOT, env=env, check=True)
    saved = os.environ.copy()
    os.environ.update(env)
    try:
        with harness.server(workers=2, threads=16) as base:
            os.environ.clear()
            os.environ.update(saved)
            yield base, env
    finally:
        os.environ.clear()
        os.environ.update(saved)
