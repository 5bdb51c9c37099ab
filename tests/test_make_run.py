"""`make serve` (the end of `make run`) and `make manage`, run for real: make, bash, gunicorn twice
and the worker, on free ports, with keys in a scratch VAR folder and the test database."""

import os
import shlex
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.gunicorn import ROOT
from tests.test_token_processes import database_url

pytestmark = pytest.mark.django_db(transaction=True)  # the worker and servers read the test database

STOP_WITHIN = 5  # seconds


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def make_env(tmp_path):
    """The environment `make` is started with: as a shell's, without make run's variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    for name in ("SECRET_KEY", "ENCRYPTION_KEYS", "SANDBOX_ENABLED", "OUTBOUND_ALLOWED_HOSTS", "DEBUG"):
        env.pop(name, None)
    env["DATABASE_URL"] = database_url()
    env["VAR"] = str(tmp_path / "var")
    return env


def start_make(env, *args):
    """``make *args`` in a process group of its own, with Ctrl+C's default meaning (a shell that
    runs a command in the foreground leaves SIGINT at its default; pytest's children inherit
    whatever this process has)."""
    return subprocess.Popen(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def descendants(pid):
    """The processes started under ``pid``, at any depth (the servers run in groups of their own)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # ended while we looked
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.update(children)
        todo.extend(children)
    return found


def alive(pids):
    left = set()
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        left.add(pid)
    return left


def wait_until_serving(process, *ports):
    deadline = time.monotonic() + 60
    for port in ports:
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.RequestException:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"make serve did not start: {process.stdout.read()}")
                time.sleep(0.2)


def stopped_within(process, pids, seconds):
    """(seconds it took for make and ``pids`` to end, the output)."""
    started = time.monotonic()
    try:
        output, _ = process.communicate(timeout=seconds + 5)
        while alive(pids) and time.monotonic() - started < seconds + 5:
            time.sleep(0.05)
    finally:
        for pid in alive(pids | {process.pid}):
            os.kill(pid, signal.SIGKILL)  # never leave a server behind a failed test
    return time.monotonic() - started, output


@pytest.mark.slow
@pytest.mark.parametrize(
    "how",
    ["ctrl-c", "sigterm"],
    ids=["Ctrl+C to the whole group, as a terminal sends it", "SIGTERM to make alone"],
)
def test_serve_stops_every_process_quickly_and_quietly(make_env, how):
    web, sandbox = free_port(), free_port()
    process = start_make(make_env, "serve", f"PORT={web}", f"SANDBOX_PORT={sandbox}")
    wait_until_serving(process, web, sandbox)
    started = descendants(process.pid)

    if how == "ctrl-c":
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGTERM)
    seconds, output = stopped_within(process, started, STOP_WITHIN)

    assert len(started) >= 6, started  # the script, the worker, two gunicorn masters, their workers
    assert seconds < STOP_WITHIN, output
    assert not alive(started), output
    assert "Segmentation fault" not in output and "SIGKILL" not in output, output
    assert "ended (exit status" not in output, output  # the stop was asked for, not a crash


def test_a_busy_port_fails_fast_and_starts_nothing(make_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = start_make(make_env, "serve", f"PORT={port}", f"SANDBOX_PORT={free_port()}")
        seconds, output = stopped_within(process, set(), 10)

    assert process.returncode != 0
    assert f"Port {port} on 127.0.0.1 is in use" in output
    assert seconds < 10
    assert "Starting worker" not in output  # no half-started worker


def make_manage(env, command):
    return subprocess.run(
        ["make", "--no-print-directory", "-s", "manage", f"ARGS={command}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_make_manage_runs_commands_with_make_runs_environment(make_env):
    make_env["OUTBOUND_ALLOWED_HOSTS"] = "sandbox.internal"
    code = (
        "from django.conf import settings; print(settings.SANDBOX_ENABLED, settings.OUTBOUND_ALLOWED_HOSTS)"
    )

    done = make_manage(make_env, f"shell -c {shlex.quote(code)}")

    assert done.returncode == 0, done.stderr
    # make run's loopback hosts are added to the user's own, not put in their place.
    assert done.stdout.strip().splitlines()[-1] == "True ['sandbox.internal', '127.0.0.1', 'localhost']"


def test_help_needs_no_environment_at_all():
    bare = {"PATH": os.environ["PATH"]}

    for command in (["provision", "--help"], ["provision_bulk", "-h"], ["help"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=bare,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "provision" in done.stdout and "SECRET_KEY" not in done.stderr
