from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import resolve_url
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

from provisioning.views import healthz


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


def _login_redirect(request, next_path):
    if request.htmx:
        # A 302 would be followed inside the XHR and the login page swapped into a fragment:
        # tell htmx to load the login page as a whole page instead.
        response = redirect_to_login(next_path)
        return HttpResponseClientRedirect(response["Location"])
    return redirect_to_login(next_path)


class IdleTimeoutMiddleware:
    """Log a signed-in user out after SESSION_IDLE_MINUTES without a request.

    The last request's time is written to the session at most once a minute
    (LAST_SEEN_RESOLUTION), which also renews the cookie's age: a session is not
    saved on every request, so a busy page costs no session write. An htmx
    request that needs a log-in gets an HX-Redirect to the login page, not a 302.
    """

    LAST_SEEN_RESOLUTION = 60  # seconds

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(timezone.now().timestamp())
            last = request.session.get("last_seen")
            if last is not None and now - last > settings.SESSION_COOKIE_AGE:
                logout(request)
                return _login_redirect(request, self._next_path(request))
            if last is None or now - last >= self.LAST_SEEN_RESOLUTION:
                request.session["last_seen"] = now
        response = self.get_response(request)
        if request.htmx and response.status_code == 302:
            login_url = resolve_url(settings.LOGIN_URL)
            location = response.get("Location", "")
            if location.split("?", 1)[0] == login_url:
                return _login_redirect(request, self._next_path(request))
        return response

    @staticmethod
    def _next_path(request):
        """Where to return after logging in: for htmx, the page, not the fragment's URL."""
        if request.htmx and request.htmx.current_url_abs_path:
            return request.htmx.current_url_abs_path
        return request.get_full_path()
