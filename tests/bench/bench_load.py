"""Load test (issue 6): the deployed topology under 50 simulated users for 60 seconds.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/provisioner_load \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python -m tests.bench.bench_load [--users 50] [--seconds 60]

gunicorn with 4 workers and 2 job workers on PostgreSQL with the Redis cache (the
README's deployment), the sandbox as the provider (zero latency) in a second gunicorn
(2 workers x 8 threads) on the same database, as a provider is another server. Each simulated
user logs in through the login form, then loops with a think time of 0.5-1.5 s:
history (50 %), a filtered history search (20 %), or the device page followed by a
Send that provisions a device (30 %). Bounded in time and requests, loopback only.
Prints the error count, p50/p95/p99 latency per kind and overall, and the number of
token requests the sandbox issued. Targets: 0 errors, p99 <= 300 ms, one token
request per connection per token lifetime.
"""

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time

import requests

from tests.bench import harness

PASSWORD = "load-test-password-1"
MAX_REQUESTS = 100_000  # a hard bound, whatever the timing


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


class User(threading.Thread):
    def __init__(self, number, base, team, config_pk, namespace_pk, stop_at, results, lock, counter, ready):
        super().__init__(daemon=True)
        self.ready = ready
        self.number, self.base, self.team = number, base, team
        self.config_pk, self.namespace_pk = config_pk, namespace_pk
        self.stop_at, self.results, self.lock, self.counter = stop_at, results, lock, counter
        self.session = requests.Session()
        self.rng = random.Random(number)
        self.devices = 0

    def timed(self, kind, method, path, expect=None, **kwargs):
        """One request, recorded as an error when it fails, answers >= 400 or not ``expect``."""
        with self.lock:
            if self.counter[0] >= MAX_REQUESTS:
                return None
            self.counter[0] += 1
        started = time.perf_counter()
        try:
            response = self.session.request(
                method, self.base + path, timeout=30, allow_redirects=False, **kwargs
            )
            ok = response.status_code == expect if expect else response.status_code < 400
        except requests.RequestException:
            response, ok = None, False
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.results.append((kind, elapsed, ok, response.status_code if response is not None else None))
        return response

    def login(self):
        harness.log_in(self.session, self.base, f"user{self.number}", PASSWORD)

    def provision(self):
        page = self.timed("device page", "GET", f"/t/{self.team}/devices/new/")
        if page is None or page.status_code != 200:
            return
        self.devices += 1
        data = harness.send_form(
            page.text, self.config_pk, self.namespace_pk, f"load-u{self.number}-{self.devices}", site="load"
        )
        self.timed(
            "provision (send)",
            "POST",
            f"/t/{self.team}/devices/new/",
            expect=201,  # the page answers 200 when the device was not created
            data=data,
            headers={"Referer": f"{self.base}/t/{self.team}/devices/new/"},
        )

    def run(self):
        try:
            self.login()  # not measured: every user logs in before the clock starts
        except (requests.RequestException, RuntimeError, AttributeError) as exc:
            with self.lock:
                self.results.append(("login", 0.0, False, type(exc).__name__))
            self.ready.abort()
            return
        self.ready.wait()
        time.sleep(self.rng.uniform(0, 1.0))  # users arrive over a second, not in one instant
        while time.monotonic() < self.stop_at[0]:
            roll = self.rng.random()
            if roll < 0.5:
                self.timed("history", "GET", f"/t/{self.team}/history/")
            elif roll < 0.7:
                self.timed(
                    "history search", "GET", f"/t/{self.team}/history/?status=created&q=com.load:load-u"
                )
            else:
                self.provision()
            time.sleep(self.rng.uniform(0.5, 1.5))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--job-workers", type=int, default=2)
    args = parser.parse_args()

    env = harness.configure()
    harness.setup_django()
    harness.prepare_database()
    from django.contrib.auth import get_user_model

    from provisioning.models import Membership
    from provisioning.sandbox import knobs, seed

    workers = []
    # The provider (the sandbox) runs in a gunicorn of its own, as Bosch's API is elsewhere:
    # served by the web workers themselves, a Send holds a web thread while it waits for
    # another, and with every thread so taken they all wait out the read timeout.
    web_port, os.environ["BENCH_PORT"] = os.environ["BENCH_PORT"], str(harness.free_port())
    with contextlib.ExitStack() as stack:
        provider = stack.enter_context(harness.server(workers=2, threads=8))
        os.environ["BENCH_PORT"] = web_port
        base = stack.enter_context(harness.server(workers=args.web_workers, threads=4))
        for _ in range(args.job_workers):
            workers.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "worker", "--interval", "0.5"],
                    cwd=harness.ROOT,
                    env=os.environ.copy(),
                    stdout=subprocess.DEVNULL,
                )
            )
        try:
            tenant = seed.create_tenant(f"{provider}/sandbox", namespaces=["com.load"], token_lifetime=3599)
            team, _, config, namespace = harness.make_team_client(tenant, name="Load")
            User_model = get_user_model()
            for n in range(args.users):
                user, _ = User_model.objects.get_or_create(username=f"user{n}")
                user.set_password(PASSWORD)
                user.save()
                Membership.objects.get_or_create(user=user, team=team, defaults={"role": "operator"})
            knobs.reset_counters()
            results, lock, counter = [], threading.Lock(), [0]
            ready = threading.Barrier(args.users + 1)
            stop_at = [float("inf")]
            users = [
                User(n, base, team.slug, config.pk, namespace.pk, stop_at, results, lock, counter, ready)
                for n in range(args.users)
            ]
            for user in users:
                user.start()
            ready.wait(timeout=600)
            started = time.monotonic()
            stop_at[0] = started + args.seconds
            for user in users:
                user.join(timeout=args.seconds + 60)
            duration = time.monotonic() - started
            token_requests = knobs.token_count()
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=20)

    kinds = sorted({kind for kind, *_ in results})
    report = {
        "database": "postgresql" if env["DATABASE_URL"].startswith("postgres") else "sqlite",
        "cache": "redis" if os.environ.get("REDIS_URL") else "database",
        "users": args.users,
        "seconds": round(duration, 1),
        "requests": len(results),
        "requests_per_s": round(len(results) / duration, 1),
        "errors": sum(1 for _, _, ok, _ in results if not ok),
        "error_statuses": sorted({status for _, _, ok, status in results if not ok}, key=str),
        "token_requests": token_requests,
        "latency_ms": {},
    }
    for kind in [*kinds, "all"]:
        values = [ms for k, ms, _, _ in results if kind in ("all", k)]
        report["latency_ms"][kind] = {
            "n": len(values),
            "p50": round(statistics.median(values), 1) if values else None,
            "p95": round(percentile(values, 0.95), 1),
            "p99": round(percentile(values, 0.99), 1),
        }
    print(json.dumps(report, indent=2))
    overall = report["latency_ms"]["all"]
    print(
        f"errors {report['errors']} (target 0); p99 {overall['p99']} ms (target <= 300); "
        f"token requests {token_requests} (target 1)"
    )


if __name__ == "__main__":
    main()
