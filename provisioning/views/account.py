"""The signed-in user's own settings: the colour theme and their password."""

import json
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.messages.views import SuccessMessageMixin
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from provisioning.forms import ThemeForm
from provisioning.models import Preference


def _way_back(request):
    """Where to go after saving: ``next`` if the form sent one, else the page the form was on.

    The header's form sends no ``next`` (so pages do not echo their own URL); the browser's
    Referer names the page (the Referrer-Policy is same-origin). Either must stay on this site,
    or the user goes to the home page.
    """
    target = request.POST.get("next") or request.META.get("HTTP_REFERER", "")
    if not _is_safe(request, target):
        return "home"
    parts = urlsplit(target)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # Checked again without the host: "http://this-site//evil.example/" has the path "//evil.example/".
    return path if path.startswith("/") and _is_safe(request, path) else "home"


def _is_safe(request, url):
    return bool(url) and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )


@login_required
@require_POST
def theme(request):
    """Save the user's theme (system, light or dark), then go back to the page they were on.

    The header's control posts here. Without JavaScript the answer is a redirect back (see
    ``_way_back``); htmx gets 204 and an ``HX-Trigger`` event with which app.js switches the
    page in place.
    """
    form = ThemeForm(request.POST)
    if not form.is_valid():
        message = form.errors["theme"][0]
        if request.htmx:
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        messages.error(request, message)
        return redirect(_way_back(request))
    choice = form.cleaned_data["theme"]
    Preference.objects.update_or_create(user=request.user, defaults={"theme": choice})
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Trigger"] = json.dumps({"theme-changed": {"theme": choice}})
        return response
    return redirect(_way_back(request))


class PasswordChangeView(SuccessMessageMixin, auth_views.PasswordChangeView):
    """Django's password change, back to the dashboard with a message when done.

    People who sign in with the identity provider have no usable password here (see
    provisioning.identity): they are told where their password is kept instead.
    """

    success_url = reverse_lazy("home")
    success_message = "Your password was changed."

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not request.user.has_usable_password():
            return render(request, "registration/password_change_unavailable.html", status=403)
        return super().dispatch(request, *args, **kwargs)
