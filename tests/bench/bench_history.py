"""History benchmark (operator workflow): a million audit rows, the history page, the export, one Send.

    .venv/bin/python -m tests.bench.bench_history [--rows 1000000] [--requests 30]
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_history \\
        .venv/bin/python -m tests.bench.bench_history

What it does, on a throw-away database (SQLite in a temp folder, or BENCH_DATABASE_URL):

1. Seeds ``--rows`` audit rows for one team with bulk inserts (executemany in batches
   on SQLite, COPY on PostgreSQL), plus a tenth as many for another team: intent and
   outcome pairs of provisioning attempts (created, conflict, refused, failed,
   unknown; a third of the devices from one of three templates, in four versions),
   de-provisionings, client tests and changes, over a year, across five namespaces, with
   runs of equal timestamps (bulk jobs), and a few attempts left open. PostgreSQL is then
   VACUUM ANALYZEd, as autovacuum would do after such a load; SQLite is left as Django
   leaves it.
2. Starts gunicorn (2 workers x 8 threads, as `make run`) and times, over HTTP with a
   logged-in session, ``--requests`` requests of each: the history page, a page deep
   in the log through its cursor, the htmx partial, and filtered searches
   (status=conflict, a namespace, outcome unknown, an actor, a template and one of its
   versions) and searches (a device-id prefix, a whole id in upper case, a name without
   its namespace, part of a name, text no id contains, ...).
   Median and p95 in milliseconds, measured at the client (loopback).
3. Server overhead of one provision: the device page's Send (POST, with a fresh form
   token each time) against the built-in sandbox at zero latency, minus a bare POST of
   the same body straight to the sandbox's API on the same server. The difference is
   the dashboard's own work: form, audit intent and outcome rows, token from the
   cache, the result page.
4. History (and so its export) lists one row per attempt, not its intent, so the log is
   then topped up with a second, older year until the export holds ``--export-rows``
   rows. gunicorn is restarted with one worker (gthread, as deployed) and the CSV export
   of the team's whole history is streamed, reading the worker's peak resident memory
   (VmHWM in /proc) before and after.

Timings are wall-clock at the client, so they include whatever else the machine runs:
the load average is printed with them.

Targets: history page and each filtered search p95 <= 50 ms; CSV export peak RSS
<= 100 MB; provision overhead <= 15 ms median.
"""

import argparse
import json
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from tests.bench import harness

NAMESPACES = ["com.bench.alpha", "com.bench.beta", "com.bench.gamma", "com.bench.delta", "com.bench.epsilon"]
ACTORS = [(101, "alice"), (102, "oscar"), (103, "olga"), (104, "bulk-runner")]
COLUMNS = [
    "created_at",
    "correlation_id",
    "phase",
    "action",
    "status",
    "actor_id",
    "actor_name",
    "team_id",
    "team_name",
    "client_ref",
    "client_name",
    "target",
    "http_status",
    "latency_ms",
    "message",
    "request",
    "response",
    "namespace",  # appended by insert_rows, as AuditEvent.save derives it
    "template_ref",  # and these three, as a Send from a template writes them (template_columns)
    "template_version",
    "template_name",
]
TEMPLATES = ("Boiler", "Pump", "Valve")
OUTCOMES = [  # status, weight, http status, message
    ("created", 80, 201, ""),
    ("conflict", 8, 409, "Device has already been provisioned."),
    ("refused", 5, 400, "The namespace is not registered for the service instance."),
    ("failed", 4, 429, "The provisioning API is busy (HTTP 429); nothing was created."),
    ("unknown", 3, None, "The provisioning API did not answer in time."),
]


# --- seeding ------------------------------------------------------------------------------


def attempt_rows(rng, team, config, when, target, status, http_status, message, action="device.provision"):
    """An intent and an outcome row (as tuples of COLUMNS), like services._perform writes them."""
    cid = uuid.uuid4()
    actor_id, actor_name = ACTORS[rng.randrange(len(ACTORS))]
    common = (actor_id, actor_name, team.pk, team.name, config.pk, config.name, target)
    if action == "device.provision":
        request = {
            "method": "POST",
            "url": "https://bench.example/api/1/sid/devices",
            "params": {},
            "headers": {"Authorization": "Bearer [redacted]"},
            "body": {
                "id": target,
                "hub": {
                    "device": {},
                    "credentials": {"type": "hashed-password", "secrets": [{"password": "[redacted]"}]},
                },
                "things": {"thing": {"attributes": {"site": "north", "floor": rng.randrange(10)}}},
            },
        }
        response = (
            {
                "id": target,
                "hub": {"device": {"deviceId": target, "enabled": True}},
                "things": {"thing": {"thingId": target, "policyId": target}},
            }
            if status == "created"
            else {"description": message, "errorDetails": {"status": http_status}}
        )
    else:
        request = {
            "method": "DELETE",
            "url": f"https://bench.example/api/1/sid/devices/{target}",
            "params": {"keepCredentials": False, "keepPolicy": False},
        }
        response = {"device": "Device deleted successfully"}
    latency = rng.randrange(20, 400)
    intent = (when, cid, "intent", action, "pending", *common, None, None, "", request, None)
    outcome = (
        when + timedelta(milliseconds=latency),
        cid,
        "outcome",
        action,
        status,
        *common,
        http_status,
        latency,
        message,
        None,
        response,
    )
    return intent, outcome


def generate(team, config, count, seed, open_attempts=0, days_ago=365):
    """Yield ``count`` rows (tuples of COLUMNS) for ``team`` over a year from ``days_ago``, oldest first."""
    rng = random.Random(seed)
    when = datetime.now(UTC) - timedelta(days=days_ago)
    step = timedelta(days=365) / max(1, count)
    weights = [w for _, w, _, _ in OUTCOMES]
    made, device = 0, 0
    while made < count:
        roll = rng.random()
        when += step * rng.uniform(0.5, 1.5) * 2
        if roll < 0.03:  # a client test or change, a namespace change
            action = rng.choice(["client.test", "client.update", "namespace.create", "member.role"])
            actor_id, actor_name = ACTORS[rng.randrange(len(ACTORS))]
            yield (
                when,
                uuid.uuid4(),
                "event",
                action,
                "ok",
                actor_id,
                actor_name,
                team.pk,
                team.name,
                config.pk,
                config.name,
                config.name,
                None,
                rng.randrange(20, 300),
                "",
                None,
                None,
            )
            made += 1
            continue
        # A run of attempts with one timestamp, as a bulk job's rows may get, or a single one.
        run = rng.randrange(5, 40) if roll < 0.08 else 1
        for _ in range(run):
            device += 1
            namespace = NAMESPACES[device % len(NAMESPACES)]
            target = f"{namespace}:dev-{device:07d}"
            if rng.random() < 0.05:
                rows = attempt_rows(rng, team, config, when, target, "deleted", 200, "", "device.deprovision")
            else:
                status, _, http_status, message = rng.choices(OUTCOMES, weights)[0]
                rows = attempt_rows(rng, team, config, when, target, status, http_status, message)
            for row in rows:
                if made < count:
                    yield row
                    made += 1
    for n in range(open_attempts):  # intents whose outcome never came (a crash), an hour old
        cid = uuid.uuid4()
        yield (
            datetime.now(UTC) - timedelta(hours=1, seconds=n),
            cid,
            "intent",
            "device.provision",
            "pending",
            101,
            "alice",
            team.pk,
            team.name,
            config.pk,
            config.name,
            f"{NAMESPACES[0]}:crashed-{n}",
            None,
            None,
            "",
            None,
            None,
        )


def namespace_of(row):
    action, target = row[3], row[11]
    return target.partition(":")[0] if action.startswith("device.") and ":" in target else ""


def template_columns(row, templates):
    """(ref, version, name) of the template an attempt's two rows name: a third of the devices'
    provisioning attempts, from one of ``templates`` ((pk, name) pairs) in turn, in four
    versions; (None, None, None) for the rest."""
    action, target = row[3], row[11]
    if not templates or action != "device.provision" or ":dev-" not in target:
        return None, None, None
    n = int(target.rpartition("-")[2])
    if n % 3:
        return None, None, None
    ref, name = templates[(n // 30_000) % len(templates)]
    return ref, 1 + (n // 7_000) % 4, name


def insert_rows(rows, batch=20_000, templates=()):
    """Bulk insert: COPY on PostgreSQL, executemany in batches on SQLite. Returns the count."""
    from django.db import connection, transaction

    from provisioning.models import AuditEvent, OpenAttempt

    table = AuditEvent._meta.db_table
    total = 0
    if connection.vendor == "postgresql":
        from psycopg.types.json import Jsonb

        connection.ensure_connection()
        with transaction.atomic(), connection.connection.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    row = [*row, namespace_of(row), *template_columns(row, templates)]
                    row[15] = Jsonb(row[15]) if row[15] is not None else None
                    row[16] = Jsonb(row[16]) if row[16] is not None else None
                    copy.write_row(row)
                    total += 1
    else:
        adapt = connection.ops.adapt_datetimefield_value
        sql = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
        chunk = []
        with connection.cursor() as cursor:
            for row in rows:
                row = [*row, namespace_of(row), *template_columns(row, templates)]
                row[0] = adapt(row[0])
                row[1] = row[1].hex
                row[15] = json.dumps(row[15]) if row[15] is not None else None
                row[16] = json.dumps(row[16]) if row[16] is not None else None
                chunk.append(row)
                if len(chunk) >= batch:
                    with transaction.atomic():
                        cursor.executemany(sql, chunk)
                    total += len(chunk)
                    chunk = []
            if chunk:
                with transaction.atomic():
                    cursor.executemany(sql, chunk)
                total += len(chunk)
    # The crashed attempts stay open: history finds them through OpenAttempt.
    open_intents = AuditEvent.objects.filter(phase="intent", target__contains=":crashed-")
    OpenAttempt.objects.bulk_create(
        [
            OpenAttempt(
                correlation_id=r.correlation_id, team_id=r.team_id, target=r.target, started_at=r.created_at
            )
            for r in open_intents
        ],
        ignore_conflicts=True,
    )
    return total


# --- measuring ----------------------------------------------------------------------------


def timed(session, url, count, **kwargs):
    """Milliseconds of ``count`` GETs of ``url`` (after two untimed ones), checking each answers 200."""
    for _ in range(2):
        session.get(url, timeout=60, **kwargs)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(url, timeout=60, **kwargs)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return times, response


def p95(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def figures(values):
    return {"median_ms": round(statistics.median(values), 1), "p95_ms": round(p95(values), 1)}


def gunicorn_workers(port):
    """PIDs of the gunicorn workers serving ``port`` (children of its master), from /proc."""
    procs = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if "gunicorn" in cmdline and f"127.0.0.1:{port}" in cmdline:
            procs[int(entry.name)] = ppid
    return [pid for pid, ppid in procs.items() if ppid in procs]


def memory_mb(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def login_cookie(user):
    """A session for ``user`` (written to the database the server reads), as a cookie value."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def explain(rows):
    """The database's plan for a queryset, in one string."""
    from django.db import connection

    return rows.explain(analyze=True) if connection.vendor == "postgresql" else rows.explain()


# --- the scenarios --------------------------------------------------------------------------


def history_timings(base, session, team, count, show_plans):
    from provisioning import history as log
    from provisioning.models import DeviceTemplate, Namespace

    beta = Namespace.objects.get(team=team, name="com.bench.beta")
    template = DeviceTemplate.objects.filter(team=team).order_by("pk").first()
    middle = log.events(team)[log.events(team).count() // 2]
    cursor = log.encode_cursor(middle)
    prefix = "com.bench.gamma:dev-00123"
    scenarios = {
        "history page (first)": "",
        "history page N (cursor, mid-log)": f"after={cursor}",
        "htmx partial (first page)": "htmx",
        "filter status=conflict": "status=conflict",
        f"filter namespace={beta.name}": f"namespace={beta.pk}",
        f"search device id prefix {prefix}": f"q={prefix}",
        "search broad prefix com.bench.d (a fifth of the log)": "q=com.bench.d",
        # What people type: a whole id in other case, a name without its namespace, part of
        # a name, a part across the colon, text nothing has, two characters nothing has.
        "search whole id, upper case": "q=COM.BENCH.BETA:DEV-0012346",
        "search name without namespace dev-0012346": "q=dev-0012346",
        "search part of a name 012346": "q=012346",
        "search across the colon a:dev-00123": "q=a:dev-00123",
        "search text no id has (no-such-thing)": "q=no-such-thing",
        "search two characters (refused: asks for three)": "q=zq",
        "search part of a name + status=conflict": "q=dev-001&status=conflict",
        # Ten thousand ids share it, all provisioned in the year's first weeks: the newest
        # match is far back in the log.
        "search part thousands of old ids share (dev-001)": "q=dev-001",
        "filter status=unknown": "status=unknown",
        "filter actor=olga + status=refused": "actor=olga&status=refused",
        "filter status=conflict, page N": f"status=conflict&after={cursor}",
        "filter one template (a ninth of the attempts)": f"template={template.pk}",
        "filter one template version (a quarter of those)": f"template={template.pk}&template_version=3",
        "filter template + status=conflict": f"template={template.pk}&status=conflict",
    }
    results = {}
    for name, query in scenarios.items():
        headers = {}
        if query == "htmx":
            headers = {"HX-Request": "true", "HX-Current-URL": f"{base}/t/bench/history/"}
            query = ""
        times, response = timed(session, f"{base}/t/bench/history/?{query}", count, headers=headers)
        rows = response.text.count('<td><a href="/t/bench/history/')
        results[name] = {**figures(times), "rows_listed": rows}
        print(
            f"  {name:48s} median {results[name]['median_ms']:7.1f} ms  p95 {results[name]['p95_ms']:7.1f} ms"
            f"   ({rows} rows)",
            flush=True,
        )
        if show_plans:
            from django.http import QueryDict

            filters = log.HistoryFilter(QueryDict(query), team=team) if query else None
            rows_qs = log.events(team, filters if filters is not None and filters.is_bound else None)
            if "after=" in query:
                rows_qs = log.older_than(rows_qs, log.decode_cursor(cursor))
            print(
                "    plan: " + explain(rows_qs[: log.PAGE_SIZE + 1]).replace("\n", "\n          "), flush=True
            )
    return results


def provision_overhead(base, session, config, namespace, tenant, count):
    """Median of the page's Send, minus the median of a bare POST straight to the sandbox.

    The two alternate (page Send, bare POST, page Send, ...), so both see the same load.
    A second figure, per Send: its wall time minus the time the dashboard itself spent
    waiting for the sandbox (the latency_ms of that attempt's outcome row, whole ms).
    """
    from provisioning import tokens
    from provisioning.device_form import generate_password
    from provisioning.models import AuditEvent

    token = tokens.fetch_token(config).access_token
    url = f"{tenant['api_base_url']}/{tenant['service_instance_id']}/devices"
    bare = requests.Session()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    page_times, direct_times, own_times = [], [], []
    for n in range(count + 3):
        page = session.get(f"{base}/t/bench/devices/new/", timeout=30)
        data = harness.send_form(page.text, config.pk, namespace.pk, f"page-{uuid.uuid4().hex[:12]}")
        started = time.perf_counter()
        response = session.post(f"{base}/t/bench/devices/new/", data=data, timeout=30)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 201, (response.status_code, response.text[:500])
        if n >= 3:
            page_times.append(elapsed)
            call = AuditEvent.objects.get(phase="outcome", target=f"{namespace.name}:{data['name']}")
            own_times.append(elapsed - call.latency_ms)

        body = {
            "id": f"{namespace.name}:direct-{uuid.uuid4().hex[:12]}",
            "hub": {
                "device": {},
                "credentials": {"type": "hashed-password", "secrets": [{"password": generate_password()}]},
            },
            "things": {"thing": {"attributes": {"site": "north"}}},
        }
        started = time.perf_counter()
        response = bare.post(url, json=body, headers=headers, timeout=30)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 201, response.text[:300]
        if n >= 3:
            direct_times.append(elapsed)
    page, direct = statistics.median(page_times), statistics.median(direct_times)
    return {
        "page_send": figures(page_times),
        "direct_sandbox_post": figures(direct_times),
        "overhead_median_ms": round(page - direct, 1),
        "send_minus_its_own_provider_call": figures(own_times),
    }


def export_memory(base, session, port):
    """Stream the whole CSV export from a fresh one-worker server; the worker's peak RSS."""
    (worker,) = gunicorn_workers(port)
    session.get(f"{base}/t/bench/history/", timeout=60)  # warm: imports, templates, connection
    before_rss, before_peak = memory_mb(worker, "VmRSS"), memory_mb(worker, "VmHWM")
    started = time.perf_counter()
    size = lines = 0
    first_byte = None
    with session.get(f"{base}/t/bench/history/export/?format=csv", stream=True, timeout=3600) as response:
        assert response.status_code == 200
        for chunk in response.iter_content(chunk_size=1 << 16):
            if first_byte is None:
                first_byte = time.perf_counter() - started
            size += len(chunk)
            lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    return {
        "csv_bytes": size,
        "csv_lines": lines,
        "seconds": round(elapsed, 1),
        "first_byte_s": round(first_byte or 0, 2),
        "worker_rss_before_mb": round(before_rss, 1),
        "worker_peak_rss_before_mb": round(before_peak, 1),
        "worker_peak_rss_after_mb": round(memory_mb(worker, "VmHWM"), 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--plans", action="store_true", help="Print the query plan of each history scenario.")
    parser.add_argument("--export-rows", type=int, default=1_000_000, help="Rows the CSV export must hold.")
    parser.add_argument(
        "--parts", default="history,provision,export", help="Which measurements to run (comma-separated)."
    )
    parser.add_argument(
        "--workdir", help="Keep the SQLite database here; a second run on it skips seeding (to iterate)."
    )
    args = parser.parse_args()

    env = harness.configure(args.workdir)
    harness.setup_django()
    harness.prepare_database()
    from django.db import connection
    from django.db.models import Count

    from provisioning.models import AuditEvent, DeviceTemplate, Namespace, Team
    from provisioning.sandbox import knobs, seed
    from tests.factories import make_template

    port = env["BENCH_PORT"]
    base = f"http://127.0.0.1:{port}"
    reuse = Team.objects.filter(slug="bench").exists()
    if reuse:  # an earlier run's database (--workdir): its tenant's URLs name another port
        from provisioning.models import Connection
        from provisioning.sandbox.models import SandboxClient

        Connection.objects.filter(team__slug="bench").delete()
        SandboxClient.objects.all().delete()
    tenant = seed.create_tenant(f"{base}/sandbox", namespaces=NAMESPACES)
    team, user, config, namespace = harness.make_team_client(tenant)
    for name in NAMESPACES:
        Namespace.objects.get_or_create(team=team, name=name)
    other_team, _ = Team.objects.get_or_create(slug="other", defaults={"name": "Other"})
    templates = [
        (t.pk, t.name)
        for t in (
            DeviceTemplate.objects.filter(team=team, name=name).first() or make_template(team, name=name)
            for name in TEMPLATES
        )
    ]
    knobs.reset()
    print(f"database: {connection.vendor} ({env['DATABASE_URL'].split('@')[-1]})", flush=True)

    if not reuse:
        started = time.perf_counter()
        inserted = insert_rows(
            generate(team, config, args.rows, seed=1, open_attempts=100), templates=templates
        )
        inserted_other = insert_rows(generate(other_team, config, args.rows // 10, seed=2))
        seconds = time.perf_counter() - started
        print(
            f"seeded {inserted:,} rows for team bench and {inserted_other:,} for team other "
            f"in {seconds:.1f} s ({(inserted + inserted_other) / seconds:,.0f} rows/s)",
            flush=True,
        )
    inserted_other = AuditEvent.objects.filter(team_id=other_team.pk).count()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {AuditEvent._meta.db_table}")
    team_rows = AuditEvent.objects.filter(team_id=team.pk).count()
    equal = (
        AuditEvent.objects.filter(team_id=team.pk, phase="outcome")
        .values("created_at")
        .order_by()
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    print(f"team bench: {team_rows:,} rows; {equal:,} instants shared by several outcome rows", flush=True)

    cookie = login_cookie(user)
    results = {"database": connection.vendor, "rows_team": team_rows, "rows_other_team": inserted_other}
    parts = set(args.parts.split(","))
    print(f"load average before timing: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    with harness.server(workers=2, threads=8) as served:
        session = requests.Session()
        session.cookies.set("sessionid", cookie)
        if "history" in parts:
            print(f"history over HTTP (gunicorn 2x8), {args.requests} timed requests each:", flush=True)
            results["history"] = history_timings(served, session, team, args.requests, args.plans)
        if "provision" in parts:
            print(
                "provision overhead (device page Send vs. bare POST to the sandbox, zero latency):",
                flush=True,
            )
            results["provision"] = p = provision_overhead(
                served, session, config, namespace, tenant, args.requests
            )
            print(
                f"  page Send median {p['page_send']['median_ms']} ms (p95 {p['page_send']['p95_ms']}); "
                f"bare sandbox POST median {p['direct_sandbox_post']['median_ms']} ms "
                f"(p95 {p['direct_sandbox_post']['p95_ms']}); overhead {p['overhead_median_ms']} ms; "
                f"per Send minus its own provider call: median "
                f"{p['send_minus_its_own_provider_call']['median_ms']} ms",
                flush=True,
            )
    if "export" in parts:
        # The history (and so its export) shows one row per attempt, not its intent: top the
        # log up with older history until the export holds --export-rows rows.
        from provisioning import history as log

        shown = log.events(team).count()
        if shown < args.export_rows:
            extra = int((args.export_rows - shown) * team_rows / shown * 1.01)
            started = time.perf_counter()
            insert_rows(generate(team, config, extra, seed=3, days_ago=730))
            print(
                f"added {extra:,} older rows for the export in {time.perf_counter() - started:.1f} s "
                f"(the history shows {log.events(team).count():,} rows)",
                flush=True,
            )
        # One worker, so the peak read is the export's; gthread (as deployed), whose
        # heartbeat does not wait for a long response, unlike the sync worker's timeout.
        with harness.server(workers=1, threads=4) as served:
            session = requests.Session()
            session.cookies.set("sessionid", cookie)
            print("CSV export of the whole history (gunicorn, 1 worker):", flush=True)
            results["export"] = e = export_memory(served, session, port)
            print(
                f"  {e['csv_lines']:,} lines, {e['csv_bytes'] / 1e6:,.0f} MB in {e['seconds']} s "
                f"(first byte after {e['first_byte_s']} s); worker RSS {e['worker_rss_before_mb']} MB "
                f"before, peak {e['worker_peak_rss_after_mb']} MB after",
                flush=True,
            )

    verdict = {}
    if "history" in results:
        worst = max(r["p95_ms"] for r in results["history"].values())
        verdict["history_p95_max_ms"] = worst
        verdict["history_target_met (p95 <= 50 ms)"] = worst <= 50
    if "export" in results:
        verdict["export_target_met (peak RSS <= 100 MB)"] = (
            results["export"]["worker_peak_rss_after_mb"] <= 100
        )
    if "provision" in results:
        verdict["provision_target_met (overhead <= 15 ms)"] = results["provision"]["overhead_median_ms"] <= 15
    results["verdict"] = verdict
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["cpus"] = os.cpu_count()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
