"""The real processes, for tests and benchmarks: gunicorn as `make serve` starts it, and manage.py."""

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def running(port, env, *, workers=2, threads=8, probe="/healthz", extra=(), quiet=True, cwd=ROOT):
    """Serve config.wsgi on 127.0.0.1:``port`` with ``env``; yield the base URL once ``probe``
    answers at all; stop the server afterwards.

    ``cwd``: the checkout whose code it serves (another worktree, for an A/B comparison).

    ``quiet``: its stderr is kept for the error raised when it does not start (for a short
    test); otherwise it goes to this process's stderr (a benchmark, whose server may log
    more than a pipe holds).
    """
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--no-control-socket",
        "--log-level",
        "warning",
        *extra,
    ]
    stderr = subprocess.PIPE if quiet else None
    server = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}{probe}", timeout=2)
                break
            except requests.RequestException:  # not listening yet, or a worker still booting
                if server.poll() is not None or time.monotonic() > deadline:
                    output = server.stderr.read().decode(errors="replace")[-3000:] if quiet else ""
                    raise RuntimeError(f"gunicorn did not start. {output}") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr:
            server.stderr.close()


def manage(env, *args, cwd=ROOT):
    """``python manage.py *args`` with ``env``; the finished process (output captured as text)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
