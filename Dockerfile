# syntax=docker/dockerfile:1
# Provisioner: one image for the web server and the job worker.
#
#   docker build -t provisioner .
#   docker volume create provisioner-data            # SQLite lives in /data unless DATABASE_URL says otherwise
#   docker run --rm --env-file prod.env -v provisioner-data:/data provisioner python manage.py migrate
#   docker run --rm --env-file prod.env -v provisioner-data:/data provisioner python manage.py createcachetable
#   docker run -d --env-file prod.env -v provisioner-data:/data -p 8000:8000 provisioner
#   docker run -d --env-file prod.env -v provisioner-data:/data --no-healthcheck \
#       provisioner python manage.py worker           # the job worker: same image, another command
#
# prod.env holds at least SECRET_KEY (or SECRET_KEY_FILE), ENCRYPTION_KEYS (or ENCRYPTION_KEYS_FILE)
# and ALLOWED_HOSTS; see the README's configuration section.
#
# CI cannot run Docker: scripts/check-docker-steps.sh (make check-docker) runs the build stage's
# ENV, WORKDIR, COPY and RUN lines through bash in a scratch directory with a fresh virtual
# environment, then has gunicorn check the CMD. Keep absolute paths out of RUN lines (use
# $VIRTUAL_ENV and paths relative to WORKDIR) so that they land in the scratch directory.

FROM python:3.11-slim-bookworm AS build
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv
ENV PATH="$VIRTUAL_ENV/bin:$PATH"
WORKDIR /app

# Dependencies first, so that a code change does not reinstall them: the direct ones pinned in
# pyproject.toml, everything beneath them pinned by constraints.txt. The project itself is not
# installed as a package; it runs from /app.
COPY pyproject.toml constraints.txt ./
RUN python -m venv "$VIRTUAL_ENV" \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && pip install --require-virtualenv -c constraints.txt -r requirements.txt

COPY manage.py ./
COPY config ./config
COPY provisioning ./provisioning
COPY templates ./templates
COPY static ./static

# Settings refuse to start without secrets. collectstatic uses none, so it gets throw-away values
# that exist only in this build step (they are not in the final image's environment).
RUN SECRET_KEY=collectstatic-only-not-a-secret \
    ENCRYPTION_KEYS=build:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA \
    python manage.py collectstatic --noinput -v 0 \
 && python -m compileall -q config provisioning


FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    DATABASE_URL=sqlite:////data/db.sqlite3
ENV PATH="$VIRTUAL_ENV/bin:$PATH"

# A system user without a home or a shell; /data is the only place it may write.
RUN groupadd --system --gid 10001 provisioner \
 && useradd --system --uid 10001 --gid provisioner --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin provisioner \
 && install -d -o provisioner -g provisioner -m 0750 /data

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Owned by root and read-only for the app: code, templates and the collected static files.
COPY --from=build /app /app

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000

# /healthz is answered before the ALLOWED_HOSTS check, so probing 127.0.0.1 works everywhere.
# No proxy: HTTP(S)_PROXY, if set for outbound calls, must not catch the local probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; r = u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:8000/healthz', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", "--no-control-socket", "--worker-tmp-dir", "/dev/shm", "--access-logfile", "-"]
