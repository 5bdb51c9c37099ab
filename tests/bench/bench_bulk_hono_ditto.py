"""Bulk benchmark through Eclipse Hono + Ditto (issue 13): ``bench_bulk --provider hono_ditto``.

    .venv/bin/python -m tests.bench.bench_bulk --provider hono_ditto [--rows 10000] [--latency 50]
                                                                     [--concurrency 8]
                                                                     [--sandbox-db shared|separate]
                                                                     [--ditto-client]

As tests/bench/bench_bulk.py, on gunicorn with the sandbox on and a throw-away database (the
sandbox's Hono registry and Ditto in the same database, as ``make run`` has them; with
``--sandbox-db separate``, a second gunicorn serves them from a database of their own). The
connection is a Hono + Ditto one whose two endpoints both use OAuth2 client credentials from
the sandbox's token endpoint; every device is four calls (Hono device, its credentials with a
generated password, the Ditto policy, the thing), each delayed ``--latency`` ms by the sandbox.

1. A bare loop: ``--concurrency`` threads, each with its own requests.Session and one token
   fetched beforehand, send the same four requests per device that the product's plan makes
   (``hono_ditto.plan``, so URLs, headers and bodies are identical), one device after another.
2. The product: the same number of rows as a bulk job run by a real ``manage.py worker``
   with the same concurrency: intents and outcomes batched by the executor's main thread,
   the step rows (two per call) written by the pool threads.

With ``--ditto-client``, Ditto has an OAuth2 client of its own at a second token endpoint (the
sandbox's Nexeed-style one), as when Hono and Ditto trust different identity providers; the
bare loop then sends Ditto's calls with that client's token too.

Printed: both times and their ratio (target <= 1.2x), the token requests per token endpoint
during the job (target: one per token lifetime per endpoint), the worker's peak RSS (target
<= 200 MB), and the audit rows written.

Measured on the development box (2 CPUs shared with other work: load average 6 to 18 during
the runs), SQLite, 50 ms, concurrency 8; the ideal is 250 s for 10,000 rows:

| rows | sandbox database | bare loop | job | ratio | tokens | worker peak RSS |
| ---: | --- | ---: | ---: | ---: | ---: | ---: |
| 1,000 | separate | 32.3 s | 36.7 s | 1.14x | 1 | 89.5 MB |
| 1,000 | shared | 32.1 s | 44.4 s | 1.38x | 1 | 89.7 MB |
| 10,000 | separate | 335.1 s | 462.6 s | 1.38x | 1 | 93.9 MB |
| 10,000 | shared | 342.0 s | 568.6 s | 1.66x | 1 | 94.6 MB |
| 10,000 | shared, before one write per call | 358.4 s | 854.3 s | 2.38x | 1 | 94.0 MB |

The job writes ten audit rows per device (intent, four calls with a row before and an answer
row each, outcome) where the bare loop writes none: about 16-17 ms of the worker's CPU per
row against the bare loop's 5-6 ms (four requests through requests). On two loaded CPUs
that run the sandbox too, the job is CPU-bound, not latency-bound, and the ratio follows the
CPU per row; with the sandbox writing into the same SQLite file (``shared``), the
simulated provider and the audit also queue on one write lock. No locking error in any run.
"""

import json
import os

from tests.bench import bulk_runs, harness

HONO_TENANT = "bench-tenant"
TOKEN_LIFETIME = 3599  # the sandbox tenant's (bulk_runs.Sandbox.create_tenant)


def hono_ditto_connection(team, base, tenant, ditto_tenant=None):
    """Team ``team``'s Hono + Ditto connection to the sandbox, both endpoints on OAuth2: one
    client, or with ``ditto_tenant`` a client of Ditto's own."""
    from provisioning.models import Connection

    own = {"ditto_auth": "oauth2"}
    if ditto_tenant:
        own = {
            "ditto_auth": "oauth2_own",
            "ditto_token_url": ditto_tenant["token_url"],
            "ditto_client_id": ditto_tenant["client_id"],
            "ditto_scope": ditto_tenant["scope"],
        }
    config = Connection(
        team=team,
        name="Bench Hono + Ditto",
        kind="hono_ditto",
        preset="custom",
        token_url=tenant["token_url"],
        client_id=tenant["client_id"],
        scope=tenant["scope"],
        hono_url=f"{base}/sandbox",
        hono_tenant=HONO_TENANT,
        hono_auth="oauth2",
        ditto_url=f"{base}/sandbox",
        **own,
    )
    config.set_secret(tenant["client_secret"])
    if ditto_tenant:
        config.set_sealed("ditto_client_secret", ditto_tenant["client_secret"])
    config.save()
    return config


def bare_loop(config, namespace, tokens, rows, concurrency):
    """Send the four calls of ``rows`` devices with ``concurrency`` threads, each with the token
    of its endpoint (``tokens``: {hd.HONO: token, hd.DITTO: token}); seconds taken."""
    from provisioning.device_form import generate_password
    from provisioning.providers import hono_ditto as hd
    from provisioning.providers import spec as specs
    from provisioning.providers.hono_ditto_connection import settings_for

    settings = settings_for(config)
    auth = {
        endpoint: {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        for endpoint, token in tokens.items()
    }

    def send(session, n):
        spec = specs.DeviceSpec(
            id=f"{namespace}:bare-{n:06d}",
            credentials=specs.GENERATED_PASSWORD,
            attributes={"site": "north", "floor": n % 10},
            definition="com.bench:sensor:1.0.0",
        )
        failed = []
        for step in hd.plan(settings, spec, generated_secret=generate_password()):
            response = session.request(
                step.method,
                step.url,
                json=step.body,
                headers={**step.headers, **auth[step.endpoint]},
                timeout=30,
            )
            if not 200 <= response.status_code < 300:
                failed.append((step.name, response.status_code))
        return failed

    return bulk_runs.bare_loop_of(rows, concurrency, send)


def main(args):
    bulk_runs.prepare(args.rows)
    from provisioning import tokens
    from provisioning.models import AuditEvent

    figures = {
        "provider": "hono_ditto",
        "rows": args.rows,
        "calls_per_row": 4,
        "latency_ms": args.latency,
        "concurrency": args.concurrency,
        "database": os.environ["DATABASE_URL"].split(":", 1)[0],
        "sandbox_db": args.sandbox_db,
    }
    with bulk_runs.served(args.sandbox_db) as (base, sandbox):
        tenant = sandbox.create_tenant(base)
        ditto_tenant = sandbox.create_tenant(base, style="nexeed") if args.ditto_client else None
        sandbox.create_hono_tenant(HONO_TENANT)
        team, user, _, namespace = harness.make_team_client(tenant)
        config = hono_ditto_connection(team, base, tenant, ditto_tenant)
        sandbox.set_latency(args.latency)
        ditto_client = config.ditto_client() if args.ditto_client else config
        bare_tokens = {
            "hono": tokens.fetch_token(config).access_token,
            "ditto": tokens.fetch_token(ditto_client).access_token,
        }
        servers = bulk_runs.gunicorn_workers(int(os.environ["BENCH_PORT"]))
        cpu_before = bulk_runs.self_cpu_seconds(), bulk_runs.cpu_seconds(servers)
        bare_s = bare_loop(config, namespace.name, bare_tokens, args.rows, args.concurrency)
        bare_cpu = (
            bulk_runs.self_cpu_seconds() - cpu_before[0],
            bulk_runs.cpu_seconds(servers) - cpu_before[1],
        )
        ours = bulk_runs.run_job(config, namespace, team, user, args.rows, args.concurrency, sandbox)
    steps = AuditEvent.objects.filter(action="device.step", target__contains=":ours-").count()
    ideal_s = args.rows * 4 * args.latency / 1000 / args.concurrency
    figures.update(bulk_runs.compared(args.rows, ideal_s, bare_s, bare_cpu, ours))
    figures.update(
        # The sandbox counts the tokens of both its token endpoints together.
        token_endpoints=[tenant["token_url"]] + ([ditto_tenant["token_url"]] if ditto_tenant else []),
        token_lifetime_s=TOKEN_LIFETIME,
        step_rows_written=steps,
    )
    print(json.dumps(figures, indent=2))
    print(
        f"Hono + Ditto job: {figures['product_time_s']} s vs the bare loop's {figures['bare_loop_time_s']} s "
        f"= {figures['product_time_vs_bare']}x (target <= 1.2x; ideal {figures['ideal_time_s']} s); "
        f"token requests {ours['token_requests']} at {len(figures['token_endpoints'])} token endpoint(s) "
        f"(target 1 per endpoint); "
        f"worker peak RSS {figures['worker_peak_rss_mb']} MB (target <= 200)"
    )
