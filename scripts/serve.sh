#!/usr/bin/env bash
# `make serve` (and the end of `make run`): the web server, the sandbox's own server and the job
# worker, started and stopped as one.
#
#   bash scripts/serve.sh [--check] HOST PORT SANDBOX_PORT VENV
#
# - Both ports are checked first: if one is taken, nothing starts (--check: only that).
# - If one of the three ends (a server that cannot start, say), the other two are stopped.
# - Ctrl+C or SIGTERM stops all three within a few seconds: the servers after the requests they
#   are answering (gunicorn's graceful shutdown, at most GRACE seconds), the worker after the rows
#   in flight of a bulk job, or at STOP_WAIT seconds (the job is queued again for the next
#   worker). The three run in process groups of their own (set -m), so Ctrl+C reaches only this
#   script, which tells each what to do. (A gunicorn worker that got the terminal's SIGINT as
#   well as its master's signal, or the quick shutdown's SIGQUIT, now and then hung until the
#   master SIGKILLed it 30 s later.)
set -u

check_only=false
if [ "${1:-}" = "--check" ]; then
    check_only=true
    shift
fi
host=$1 port=$2 sandbox_port=$3 venv=$4
STOP_WAIT=4
GRACE=3

for p in "$port" "$sandbox_port"; do
    # Something answers a connection there: another `make run`, or another program.
    if (exec 3<>"/dev/tcp/$host/$p") 2>/dev/null; then
        echo "Port $p on $host is in use (another 'make run' still running?). Stop that, or choose other ports: PORT=8010 make run." >&2
        exit 1
    fi
done
$check_only && exit 0

web_pid="" sandbox_pid="" worker_pid=""

stop() {
    trap '' INT TERM
    kill -TERM "$web_pid" "$sandbox_pid" 2>/dev/null # gunicorn: graceful shutdown
    kill -TERM "$worker_pid" 2>/dev/null
    local deadline=$((SECONDS + STOP_WAIT))
    while kill -0 "$web_pid" "$sandbox_pid" "$worker_pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.1
    done
    # A second signal makes the worker leave the rows in flight.
    kill -TERM "$worker_pid" 2>/dev/null && echo "Stopping the worker now; its bulk job is queued again." >&2
    wait
}

trap 'stop; exit 0' INT TERM

set -m
"$venv/bin/python" manage.py worker --interval 0.5 &
worker_pid=$!
"$venv/bin/gunicorn" config.wsgi --bind "$host:$port" --workers 2 --threads 8 \
    --graceful-timeout "$GRACE" --no-control-socket --access-logfile - --log-level warning &
web_pid=$!
"$venv/bin/gunicorn" config.wsgi --bind "$host:$sandbox_port" --workers 1 --threads 8 \
    --graceful-timeout "$GRACE" --no-control-socket --log-level warning &
sandbox_pid=$!

# Until the first of them ends on its own, or a signal runs the traps above.
wait -n
status=$?
echo "A process of 'make run' ended (exit status $status); stopping the others." >&2
stop
exit 1
