"""A team's namespaces, validated live as the admin types."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from provisioning import team_admin
from provisioning.access import ADMINS, get_membership, get_namespace
from provisioning.forms import NamespaceForm


@login_required
@require_http_methods(["GET", "POST"])
def namespaces(request, team_slug):
    membership = get_membership(request, team_slug)
    team = membership.team
    form = None
    if request.method == "GET" and request.htmx and "name" in request.GET:
        # Live validation as the admin types: only the name field's feedback.
        get_membership(request, team_slug, ADMINS)
        typed = request.GET["name"]
        ctx = {"field": None, "value": ""}  # an emptied field gets the hint, not an error
        if typed.strip():
            form = NamespaceForm({"name": typed}, team=team)
            form.is_valid()
            ctx = {"field": form["name"], "value": typed}
        return render(request, "provisioning/namespaces.html#namespace-check", ctx)
    if request.method == "POST":
        membership = get_membership(request, team_slug, ADMINS)
        form = NamespaceForm(request.POST, team=team)
        if form.is_valid():
            namespace = team_admin.create_namespace(form, actor=request.user, team=team)
            messages.success(request, f"Namespace {namespace.name} added.")
            return redirect("namespaces", team_slug)
    elif membership.is_admin:
        form = NamespaceForm(team=team)
    ctx = {"membership": membership, "namespaces": team.namespaces.select_related("client"), "form": form}
    if form is not None and form.is_bound:
        # The name's feedback is the namespace-check partial, also on a full page after a POST.
        ctx.update(field=form["name"], value=form["name"].value())
    return render(request, "provisioning/namespaces.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def namespace_delete(request, team_slug, pk):
    """GET asks for confirmation (the list links here); POST removes."""
    membership, namespace = get_namespace(request, team_slug, pk, ADMINS)
    if request.method == "GET":
        ctx = {"membership": membership, "namespace": namespace}
        return render(request, "provisioning/namespace_delete.html", ctx)
    team_admin.delete_namespace(namespace, actor=request.user, team=membership.team)
    messages.success(request, f"Namespace {namespace.name} removed.")
    return redirect("namespaces", team_slug)
