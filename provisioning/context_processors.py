def teams(request):
    """The signed-in user's teams, for the team switcher in the header."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"my_memberships": user.memberships.select_related("team")}
