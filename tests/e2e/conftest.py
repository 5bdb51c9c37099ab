"""Browser tests: Playwright for Python driving Debian's Chromium against pytest-django's live server.

Fixtures (all function-scoped unless noted):

    browser                 session: headless Chromium at /usr/bin/chromium
    server                  the live server (pytest-django's ``live_server``) serving the same WSGI
                            app gunicorn serves, static files from whitenoise; ``server.url``
    page                    a fresh browser context and page per test, 1280x900, base_url=server.url,
                            so ``page.goto("/accounts/login/")`` works
    login(page, user)       logs in through the real login form; returns the page
    shot(page, name)        full-page PNG in tests/e2e/artifacts/ (and $SCREENSHOTS_DIR when set);
                            full_page=False for the window only
    axe(page, exclude=())   runs axe-core (WCAG 2.0/2.1 A and AA rules) on the page; returns violations
    browser_errors          console errors, uncaught page errors and CSP violations seen by ``page``
    bulk_worker             a thread that runs every queued bulk job, as ``manage.py worker`` would

Without Chromium, Playwright or axe-core the tests are skipped with the reason; with CI set in the
environment they fail instead, so a CI machine cannot go green by skipping. Test modules take
``expect`` and ``format_violations`` from here (``from tests.e2e.conftest import expect``), so they
import even where Playwright is missing, and mark themselves ``pytestmark = pytest.mark.e2e``.

The event loop: Playwright's sync API keeps an asyncio loop running in the main thread for as long
as it is started, and Django refuses ORM calls from a thread with a running loop
(SynchronousOnlyOperation). The fixtures here (the cast, connections) and the live
server's database flush run in that thread, so the ``browser`` fixture sets
DJANGO_ALLOW_ASYNC_UNSAFE=true while Playwright runs and removes it when it stops. Nothing here is
async code; the check is only confused by Playwright's loop. To keep that window away from the
other tests, the e2e tests are moved to the end of the run (``pytest_collection_modifyitems``
below), so a full ``pytest`` run starts the browser only after every other test has finished.
"""

import contextlib
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import PASSWORD

try:
    # Test modules import ``expect`` from here: without Playwright it is None, and every test that
    # uses ``page`` is skipped (or, with CI set, failed) by the ``browser`` fixture before running.
    from playwright.sync_api import expect
except ImportError:
    expect = None

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0 and 2.1, levels A and AA (axe's tag names).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
TIMEOUT_MS = 10_000
AXE_URL = "/__e2e__/axe.min.js"  # answered by Playwright, never by the server
# What Chromium logs for a page answered with an error status. Tests that open an error page on
# purpose (a 404, a form re-rendered with 400) leave these out of ``browser_errors``' assertion.
ERROR_STATUS = re.compile(r"^Failed to load resource: the server responded with a status of 4\d\d\b")


def unavailable(reason):
    """Skip the test, or fail it when running in CI (where the browser must be there)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(trylast=True)  # after pytest-django's own reordering
def pytest_collection_modifyitems(session, config, items):
    """Run the browser tests last: see the module docstring (the event loop)."""
    e2e = [item for item in items if item.get_closest_marker("e2e")]
    if e2e:
        others = [item for item in items if not item.get_closest_marker("e2e")]
        items[:] = others + e2e


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item so ``page`` can screenshot a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@contextlib.contextmanager
def launched_chromium():
    """Debian's Chromium under Playwright, or a skip (a failure under CI) with the reason."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (make install)")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium, or run scripts/ensure-browser.sh)")

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            unavailable(f"Chromium at {CHROMIUM} did not start: {str(exc).splitlines()[0]}")
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def browser():
    with launched_chromium() as chromium:
        yield chromium


@pytest.fixture
def server(live_server):
    """pytest-django's live server, answering with the app exactly as gunicorn runs it.

    pytest-django wraps the app in Django's StaticFilesHandler, which looks files up with the
    finders and so 404s on the hashed names the manifest storage puts in pages (app.3f2a….css).
    For the duration of the test the server gets the plain WSGI app instead: whitenoise's
    middleware then serves the files collected by tests/conftest.py's ``collected_static``, as
    in production. The transactional database comes with ``live_server``.
    """
    from django.core.handlers.wsgi import WSGIHandler

    httpd = live_server.thread.httpd
    original = httpd.get_app()
    httpd.set_app(WSGIHandler())
    yield live_server
    httpd.set_app(original)


@pytest.fixture
def browser_errors():
    """Console errors, uncaught exceptions and CSP violations of ``page``; tests assert it is empty."""
    return []


@pytest.fixture
def page(request, browser, server, browser_errors):
    context = browser.new_context(base_url=server.url, viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("console", lambda msg: _note_console(msg, browser_errors))
    page.on("pageerror", lambda exc: browser_errors.append(f"uncaught: {exc}"))
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed and not page.is_closed():
        _save_png(page, f"FAILED-{_safe_name(request.node.name)}")
    context.close()


def _note_console(msg, errors):
    # Chromium asks every site for /favicon.ico; the app has none, and that 404 is no error of a page.
    if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico"):
        errors.append(msg.text)


def _safe_name(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "page"


def _save_png(page, name, *, full_page=True, mask=()):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{_safe_name(name)}.png"
    page.screenshot(path=path, full_page=full_page, mask=list(mask), mask_color="#5b6472")
    extra = os.environ.get("SCREENSHOTS_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(extra) / path.name)
    return path


@pytest.fixture
def shot():
    """shot(page, name) -> Path of a full-page PNG in tests/e2e/artifacts/ (and $SCREENSHOTS_DIR).

    ``shot(page, name, full_page=False)`` takes only what the window shows (1280x900);
    ``mask=[locator, ...]`` paints over what they match (a secret: pictures are kept).
    """
    return _save_png


def log_in(page, user, password=PASSWORD):
    """Submit the real login form on ``page``; return it once the browser has left the login
    page (a wrong password times out there)."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    return page


@pytest.fixture
def login():
    """login(page, user, password=PASSWORD) -> page: ``log_in``, for tests that take fixtures."""
    return log_in


@pytest.fixture(scope="session")
def _axe_source():
    if not AXE_JS.is_file():
        unavailable(f"{AXE_JS.relative_to(ROOT)} is missing (npm ci, or run scripts/ensure-browser.sh)")
    return AXE_JS


@pytest.fixture
def axe(_axe_source):
    """axe(page, *, exclude=()) -> list of violations (axe's dicts) for WCAG 2.0/2.1 A and AA.

    Use ``format_violations(violations)`` for a readable assertion message.
    """

    def _axe(page, *, exclude=()):
        if not page.evaluate("() => typeof window.axe === 'object'"):
            # The pages' CSP ("script-src 'self'") refuses add_script_tag(path=...), which inlines the
            # file. So the script is loaded from a same-origin URL that Playwright answers with the
            # file from node_modules: the CSP stays on and the server never sees the request.
            page.route(AXE_URL, lambda route: route.fulfill(path=_axe_source, content_type="text/javascript"))
            page.add_script_tag(url=AXE_URL)
        options = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
        context = {"exclude": [[selector] for selector in exclude]} if exclude else None
        result = page.evaluate(
            "([context, options]) => context ? axe.run(context, options) : axe.run(document, options)",
            [context, options],
        )
        return result["violations"]

    return _axe


def format_violations(violations):
    """A readable summary of axe violations: rule, impact, help and the offending nodes."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:10]:
            lines.append(f"    {json.dumps(node['target'])}: {node['failureSummary']}".replace("\n", " "))
    return "\n".join(lines)


@pytest.fixture
def bulk_worker(server):
    """Validates every upload and runs every queued bulk job until the test ends: the worker's
    code path, in a thread.

    ``manage.py worker`` takes these from the task queue; the thread calls the validation
    task and the executor for every such job directly. It shares the live server's database,
    so the pages show its progress as they would a real worker's.
    """
    from django.db import connections

    from provisioning.bulk import executor, tasks
    from provisioning.bulk.models import BulkJob, JobStatus

    stop = threading.Event()

    def loop():
        try:
            while not stop.is_set():
                for pk in BulkJob.objects.filter(status=JobStatus.VALIDATING).values_list("pk", flat=True):
                    tasks.validate_upload.call(pk)
                for pk in BulkJob.objects.filter(status=JobStatus.QUEUED).values_list("pk", flat=True):
                    executor.run(pk, stop=stop)
                time.sleep(0.2)
        finally:
            connections.close_all()

    thread = threading.Thread(target=loop, name="e2e-bulk-worker", daemon=True)
    thread.start()
    yield thread
    stop.set()
    thread.join(timeout=30)
