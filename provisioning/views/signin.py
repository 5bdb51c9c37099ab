"""Signing in and out: the password form, the identity provider (OpenID Connect), sign-out."""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import logout as end_session
from django.contrib.auth import views as auth_views
from django.db import IntegrityError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from provisioning import identity, oidc
from provisioning.forms import LoginForm

logger = logging.getLogger(__name__)

# Session keys: where to go after the provider's sign-in, how the user signed in, their groups.
NEXT = "oidc_next"
SIGNED_IN_WITH = "signed_in_with"
GROUPS = "oidc_groups"


class LoginView(auth_views.LoginView):
    """Django's log-in page, with the identity provider's button when one is configured."""

    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            oidc_enabled=settings.OIDC_ENABLED,
            oidc_provider_name=settings.OIDC_PROVIDER_NAME,
            superusers_only=settings.LOCAL_LOGIN_SUPERUSERS_ONLY,
            **kwargs,
        )


def _safe_next(request, url):
    allowed = url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return url if url and allowed else ""


def _failed(request, error):
    return render(request, "registration/sign_in_error.html", {"message": str(error)}, status=error.status)


@require_safe
@never_cache
def oidc_login(request):
    """Send the browser to the identity provider (the sign-in button's link)."""
    if not settings.OIDC_ENABLED:
        raise Http404("Sign-in with an identity provider is not configured.")
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    request.session[NEXT] = _safe_next(request, request.GET.get("next", ""))
    try:
        return oidc.start(request, request.build_absolute_uri(reverse("oidc_callback")))
    except oidc.SignInError as error:
        return _failed(request, error)


@require_safe
@never_cache
def oidc_callback(request):
    """Where the provider sends the browser back: verify, create or update the user, sign in."""
    if not settings.OIDC_ENABLED:
        raise Http404("Sign-in with an identity provider is not configured.")
    try:
        claims = oidc.finish(request)
    except oidc.SignInError as error:
        return _failed(request, error)
    groups = oidc.groups(claims)
    try:
        user = identity.sign_in(claims, issuer=settings.OIDC_ISSUER, groups=groups)
    except IntegrityError:  # the same person's first sign-in twice at once; the other one won
        return _failed(request, oidc.SignInError("You were signing in twice at once. Sign in again."))
    if not user.is_active:
        logger.warning("OIDC sign-in refused: the account %s is deactivated", user.username)
        return _failed(
            request, oidc.SignInError("Your account here is deactivated. Ask a superuser.", status=403)
        )
    next_url = request.session.pop(NEXT, "")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SIGNED_IN_WITH] = "oidc"
    request.session[GROUPS] = groups
    if not user.memberships.exists():
        logger.info("OIDC sign-in of %s: no group maps to a team (groups: %s)", user.username, groups)
        return redirect("home")
    return redirect(next_url or "home")


@require_POST
def logout(request):
    """End the session here, then the identity provider's too when the user signed in there
    and it offers an end-session endpoint."""
    with_provider = request.session.get(SIGNED_IN_WITH) == "oidc"
    end_session(request)
    if with_provider and settings.OIDC_ENABLED:
        url = oidc.logout_url(request.build_absolute_uri(reverse("login")))
        if url:
            return redirect(url)
        messages.warning(
            request,
            "You are signed out here. The identity provider was not asked to end its session (it offers no "
            "way to, or could not be reached): close the browser to be sure.",
        )
    return redirect(settings.LOGOUT_REDIRECT_URL)
