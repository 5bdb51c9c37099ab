from django.conf import settings
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.utils import timezone


class IdleTimeoutMiddleware:
    """Log a signed-in user out after SESSION_IDLE_MINUTES without a request.

    The session cookie's age already expires with SESSION_SAVE_EVERY_REQUEST; this
    also ends sessions whose cookie a browser keeps alive past its age.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(timezone.now().timestamp())
            last = request.session.get("last_seen")
            if last is not None and now - last > settings.SESSION_COOKIE_AGE:
                logout(request)
                if request.htmx:
                    response = redirect(settings.LOGIN_URL)
                    response["HX-Redirect"] = response["Location"]
                    return response
                return redirect(f"{redirect(settings.LOGIN_URL)['Location']}?next={request.path}")
            request.session["last_seen"] = now
        return self.get_response(request)
