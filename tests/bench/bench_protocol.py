"""Protocol-layer benchmark (issue 3): shared tokens and client overhead.

    .venv/bin/python -m tests.bench.bench_protocol [--processes 8] [--devices 1000] [--rounds 2]

N processes provision M devices in all against the built-in sandbox, served by
gunicorn, through providers.bosch and provisioning.api (token from the shared cache). The same
load is then sent by a bare `requests` loop with the same concurrency and one
pre-fetched token, against the same sandbox. Rounds alternate the two so both
see the same machine. Prints token requests made and devices per second.
Targets: exactly 1 token request; our rate within 10 % of the bare loop.
"""

import argparse
import json
import multiprocessing
import statistics
import time

from tests.bench import harness


def _body(device_id):
    return {
        "id": device_id,
        "hub": {
            "device": {},
            "credentials": {"type": "hashed-password", "secrets": [{"password": "Bench-Pa55-1"}]},
        },
        "things": {"thing": {"attributes": {"bench": True}}},
    }


def ours(args):
    """A worker process: provision through the product's client (shared token cache)."""
    config_pk, namespace, start, count, barrier = args
    harness.setup_django()
    from provisioning.models import Connection
    from provisioning.providers import bosch

    config = Connection.objects.get(pk=config_pk)
    barrier.wait()
    for n in range(start, start + count):
        result = bosch.create_device(config, _body(f"{namespace}:ours-{n}"))
        assert result.status == 201
    return count


def bare(args):
    """A worker process: the same POSTs with plain requests and a token handed in."""
    import requests

    url, token, namespace, start, count, barrier = args
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    barrier.wait()
    for n in range(start, start + count):
        response = session.post(url, json=_body(f"{namespace}:bare-{n}"), headers=headers, timeout=30)
        assert response.status_code == 201, response.text[:200]
    return count


def run(pool, function, make_args, processes, devices, manager):
    barrier = manager.Barrier(processes + 1)
    per = devices // processes
    pending = pool.map_async(function, [make_args(i * per, per, barrier) for i in range(processes)])
    barrier.wait()
    started = time.perf_counter()
    done = sum(pending.get())
    return done / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    harness.configure()
    harness.setup_django()
    harness.prepare_database()
    from provisioning import tokens
    from provisioning.sandbox import knobs, seed

    with harness.server() as base:
        tenant = seed.create_tenant(f"{base}/sandbox", namespaces=["com.bench"], token_lifetime=3599)
        _, _, config, _ = harness.make_team_client(tenant)
        # The bare loop gets its own token, fetched before counting starts.
        bare_token = tokens.fetch_token(config).access_token
        knobs.reset_counters()
        url = f"{tenant['api_base_url']}/{tenant['service_instance_id']}/devices"
        ctx = multiprocessing.get_context("spawn")
        ours_rates, bare_rates = [], []
        with ctx.Manager() as manager, ctx.Pool(args.processes) as pool:
            for round_no in range(args.rounds):
                tag = f"com.bench:r{round_no}"
                ours_rates.append(
                    run(
                        pool,
                        ours,
                        lambda s, c, b, tag=tag: (config.pk, tag, s, c, b),
                        args.processes,
                        args.devices,
                        manager,
                    )
                )
                bare_rates.append(
                    run(
                        pool,
                        bare,
                        lambda s, c, b, tag=tag: (url, bare_token, tag, s, c, b),
                        args.processes,
                        args.devices,
                        manager,
                    )
                )
        token_requests = knobs.token_count()

    ours_rate, bare_rate = statistics.median(ours_rates), statistics.median(bare_rates)
    figures = {
        "processes": args.processes,
        "devices_per_round": args.devices,
        "rounds": args.rounds,
        "token_requests_by_product": token_requests,
        "product_devices_per_s": round(ours_rate, 1),
        "bare_requests_devices_per_s": round(bare_rate, 1),
        "product_vs_bare": round(ours_rate / bare_rate, 3),
        "all_rounds_product": [round(r, 1) for r in ours_rates],
        "all_rounds_bare": [round(r, 1) for r in bare_rates],
    }
    print(json.dumps(figures, indent=2))
    print(
        f"token requests: {token_requests} (target 1); "
        f"product {ours_rate:.1f}/s vs bare {bare_rate:.1f}/s = {ours_rate / bare_rate:.1%} (target >= 90%)"
    )


if __name__ == "__main__":
    main()
