from urllib.parse import parse_qs, urlsplit, urlunsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import resolve_url
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

from provisioning.views import healthz

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")  # RFC 9110: those that change nothing


class HealthCheckMiddleware:
    """Answer GET /healthz before host validation, HTTPS redirects and sessions.

    The container's HEALTHCHECK calls http://127.0.0.1:8000/healthz, a host that
    ALLOWED_HOSTS need not list; the probe must not depend on it (nor on a session
    row, which would turn a database outage into a 500 instead of a 503).
    Keep this first in MIDDLEWARE.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == "/healthz" and request.method in ("GET", "HEAD"):
            return healthz(request)
        return self.get_response(request)


class IdleTimeoutMiddleware:
    """Log a signed-in user out after SESSION_IDLE_MINUTES without a request.

    The last request's time is written to the session at most once a minute
    (LAST_SEEN_RESOLUTION), which also renews the cookie's age: a session is not
    saved on every request, so a busy page costs no session write.

    A request that finds its session ended (idle here, or its cookie already gone when
    it posts a form or asks for an htmx fragment) goes to the login page with a message
    saying so, and that what it submitted was not sent; after logging in the operator is
    back on the page the form or fragment belonged to. An htmx request gets an
    HX-Redirect there, not a 302 that htmx would follow inside the fragment.
    """

    LAST_SEEN_RESOLUTION = 60  # seconds

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        signed_in = request.user.is_authenticated
        if signed_in:
            now = int(timezone.now().timestamp())
            last = request.session.get("last_seen")
            if last is not None and now - last > settings.SESSION_COOKIE_AGE:
                logout(request)
                return self._to_login(request)
            if last is None or now - last >= self.LAST_SEEN_RESOLUTION:
                request.session["last_seen"] = now
        response = self.get_response(request)
        ended = not signed_in and (request.htmx or request.method not in SAFE_METHODS)
        if ended and response.status_code == 302:
            # login_required's answer: the login page, with where to come back to. (Logging
            # out also leads there, without a "next".)
            location = urlsplit(response.get("Location", ""))
            if location.path == resolve_url(settings.LOGIN_URL) and "next" in parse_qs(location.query):
                return self._to_login(request)
        return response

    def _to_login(self, request):
        minutes = settings.SESSION_COOKIE_AGE // 60
        if request.method in SAFE_METHODS:
            text = f"Your session ended after {minutes} minutes without activity. Log in to go on."
        else:
            text = (
                f"Your session ended after {minutes} minutes without activity, so what you submitted "
                "was not sent: nothing was saved or sent to the provider. Log in to go back to the "
                "page, then submit it again."
            )
        messages.warning(request, text)
        login = redirect_to_login(self._next_path(request))
        if request.htmx:
            return HttpResponseClientRedirect(login["Location"])
        return login

    @staticmethod
    def _next_path(request):
        """Where to return after logging in: the page, not the fragment's URL (htmx) nor the
        URL a form posted to (which may answer only POST)."""
        if request.htmx:
            page = request.htmx.current_url_abs_path
        elif request.method not in SAFE_METHODS:
            page = _same_origin_path(request, request.headers.get("Referer"))
        else:
            page = None
        return page or request.get_full_path()


def _same_origin_path(request, url):
    """The path and query of ``url`` if it is on this site, else None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme != request.scheme or parts.netloc != request.get_host():
        return None
    return urlunsplit(parts._replace(scheme="", netloc="")) or None
