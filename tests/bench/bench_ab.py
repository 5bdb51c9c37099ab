"""A/B benchmark: this checkout against another commit, side by side, requests interleaved.

    .venv/bin/python -m tests.bench.bench_ab --base HEAD~1 [--what send|page] [--path URL]
                                             [--requests 150] [--workdir DIR]
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_ab .venv/bin/python -m ...

On a shared machine a figure moves by several milliseconds between two runs of the same
code (the provision overhead of one commit measured 11 to 16 ms on one afternoon), so
two runs cannot tell a 1-3 ms change. This runs both at once:

- ``--base`` is checked out into a temporary git worktree; A is gunicorn serving it, B
  is gunicorn serving this checkout (each 2 workers x 8 threads), on one database
  (migrated by this checkout: compare code, not migrations), with the sandbox in a
  third gunicorn both call;
- one user logs in to each through the login form;
- requests alternate A, B, B, A, ...: ``--what send`` times the device page's Send
  (after a GET for a fresh form token, not timed), ``--what page`` a GET of ``--path``.

Prints the median and p95 of each, B - A and B / A. An A/A run (``--base HEAD`` with a
clean checkout) shows the noise of the method: 0.3 ms on the day it was written.
"""

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import requests

from tests import gunicorn
from tests.bench import harness

PASSWORD = "ab-bench-password-1"


@contextlib.contextmanager
def worktree(ref):
    """``ref`` checked out in a temporary worktree, its static files collected."""
    path = tempfile.mkdtemp(prefix="provisioner-ab-")
    subprocess.run(["git", "worktree", "add", "--detach", path, ref], cwd=harness.ROOT, check=True)
    try:
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=path,
            env=os.environ.copy(),
            check=True,
        )
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", path], cwd=harness.ROOT, check=False)


def timed_send(session, base, config, namespace, label):
    url = f"{base}/t/bench/devices/new/"
    page = session.get(url, timeout=30)
    data = harness.send_form(page.text, config.pk, namespace.pk, f"{label}-{uuid.uuid4().hex[:12]}")
    started = time.perf_counter()
    response = session.post(url, data=data, timeout=30)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 201:
        raise RuntimeError(f"{label}: Send answered {response.status_code}")
    return elapsed


def timed_get(session, base, path, label):
    started = time.perf_counter()
    response = session.get(f"{base}{path}", timeout=30)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{label}: GET {path} answered {response.status_code}")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="The commit to compare with (A).")
    parser.add_argument("--what", choices=["send", "page"], default="send")
    parser.add_argument("--path", default="/t/bench/history/", help="The page to GET (--what page).")
    parser.add_argument("--requests", type=int, default=150, help="Timed requests per side.")
    parser.add_argument("--workdir", help="Keep the SQLite database here (to reuse a seeded one).")
    args = parser.parse_args()

    env = harness.configure(args.workdir)
    harness.setup_django()
    harness.prepare_database()
    from provisioning.models import Connection
    from provisioning.sandbox import knobs, seed
    from provisioning.sandbox.models import SandboxClient

    ports = {side: harness.free_port() for side in ("A", "B", "sandbox")}
    Connection.objects.filter(team__slug="bench").delete()  # an earlier run's, with other ports
    SandboxClient.objects.all().delete()
    tenant = seed.create_tenant(
        f"http://127.0.0.1:{ports['sandbox']}/sandbox", namespaces=["com.bench.alpha"]
    )
    _, user, config, namespace = harness.make_team_client(tenant)
    user.set_password(PASSWORD)
    user.save()
    knobs.reset()
    print(f"database: {env['DATABASE_URL'].split('@')[-1]}; A = {args.base}, B = this checkout", flush=True)

    with contextlib.ExitStack() as stack:
        base_tree = stack.enter_context(worktree(args.base))
        environ = os.environ.copy()
        bases = {
            "A": stack.enter_context(gunicorn.running(ports["A"], environ, cwd=base_tree, quiet=False)),
            "B": stack.enter_context(gunicorn.running(ports["B"], environ, quiet=False)),
        }
        stack.enter_context(gunicorn.running(ports["sandbox"], environ, quiet=False))
        sessions = {
            side: harness.log_in(requests.Session(), base, user.username, PASSWORD)
            for side, base in bases.items()
        }
        times = {"A": [], "B": []}
        for n in range(args.requests + 5):
            for side in ("A", "B") if n % 2 else ("B", "A"):
                if args.what == "send":
                    ms = timed_send(sessions[side], bases[side], config, namespace, side)
                else:
                    ms = timed_get(sessions[side], bases[side], args.path, side)
                if n >= 5:  # the first few warm both servers up
                    times[side].append(ms)

    what = "device page Send" if args.what == "send" else f"GET {args.path}"
    a, b = statistics.median(times["A"]), statistics.median(times["B"])
    for side in ("A", "B"):
        print(f"  {side}: {what} {harness.summary(times[side])} ms", flush=True)
    print(
        f"B - A = {b - a:+.2f} ms, B / A = {b / a:.3f} ({args.requests} each, interleaved; "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)"
    )


if __name__ == "__main__":
    main()
