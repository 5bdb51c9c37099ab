from django.conf import settings
from django.utils.functional import SimpleLazyObject

from provisioning.models import Preference


def teams(request):
    """The signed-in user's teams, for the team switcher in the header."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    found = getattr(request, "memberships", None)  # read by get_membership on a team page
    return {"my_memberships": found if found is not None else user.memberships.select_related("team")}


def theme(request):
    """The signed-in user's theme for <html data-theme>, read only when a page renders it.

    Anonymous visitors get none: their pages follow the operating system's setting.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    # Read when first shown; the user object keeps its preference for the rest of the request.
    return {"theme": SimpleLazyObject(lambda: Preference.theme_of(user))}


def sandbox(request):
    """Whether the header links to the sandbox page: for staff, when the sandbox is on."""
    user = getattr(request, "user", None)
    staff = user is not None and user.is_authenticated and (user.is_staff or user.is_superuser)
    return {"sandbox_link": settings.SANDBOX_ENABLED and staff}
