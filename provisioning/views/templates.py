"""Device templates: the list, one template and its versions (for every member), and the
admin's create, edit (a new version), retire, restore and delete."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Max
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from provisioning import template_admin
from provisioning.access import ADMINS, get_membership, get_template
from provisioning.device_form import CREDENTIAL_CHOICES, POLICY_CHOICES
from provisioning.device_templates import FIELD_WORDS
from provisioning.form_fields import AuthScopeField
from provisioning.models import DeviceTemplate, TemplateVersion
from provisioning.template_form import TemplateForm
from provisioning.template_use import feature_text

CHANGE_WORDS = {
    **FIELD_WORDS,
    "policy_mode": FIELD_WORDS["policy"],
    "policy_id": FIELD_WORDS["policy"],
    "attributes": "Attributes",
    "fixed_attributes": "Which attributes are fixed",
    "name": "Name",
    "description": "Description",
}


def change_words(names):
    """What changed, in the page's words, each once: "Definition", "Gateway (via): fixed or not"."""
    words = []
    for name in names:
        base = name.removesuffix("_fixed")
        word = f"{CHANGE_WORDS[base]}: fixed or not" if name != base else CHANGE_WORDS[name]
        if word not in words:
            words.append(word)
    return words


def version_rows(version):
    """The version's values as the pages show them: (label, text, shape, fixed), the shape ""
    (words), "code" (an id) or "pre" (JSON)."""
    kind = version.template.kind
    credentials = dict(CREDENTIAL_CHOICES).get(version.credentials_type, version.credentials_type)
    policy = dict(POLICY_CHOICES).get(version.policy_mode, version.policy_mode)
    if version.policy_mode == "existing":
        policy = f"{policy}: {version.policy_id}"

    def code(value):
        return (value, "code") if value else ("none", "")

    rows = [
        (FIELD_WORDS["enabled"], "yes" if version.enabled else "no", "", version.enabled_fixed),
        (FIELD_WORDS["via"], *code(version.via), version.via_fixed),
        (FIELD_WORDS["credentials_type"], credentials, "", version.credentials_type_fixed),
    ]
    if kind == "bosch":
        scope = dict(AuthScopeField().choices).get(version.auth_scope, version.auth_scope)
        rows.append((FIELD_WORDS["auth_scope"], scope, "", version.auth_scope_fixed))
    features = (feature_text(version.features), "pre") if version.features else ("none", "")
    rows += [
        (FIELD_WORDS["definition"], *code(version.definition), version.definition_fixed),
        (FIELD_WORDS["features"], *features, version.features_fixed),
        (FIELD_WORDS["policy"], policy, "", version.policy_fixed),
    ]
    return rows


def _version_ctx(membership, template, version):
    fixed = set(version.fixed_attributes)
    return {
        "membership": membership,
        "template": template,
        "version": version,
        "rows": version_rows(version),
        "attributes": [(key, value, key in fixed) for key, value in version.attributes.items()],
    }


@login_required
@require_safe
def templates(request, team_slug):
    membership = get_membership(request, team_slug)
    found = DeviceTemplate.objects.filter(team=membership.team).annotate(
        latest_number=Max("versions__number")
    )
    items = list(found)
    ctx = {
        "membership": membership,
        "active": [t for t in items if not t.is_retired],
        "retired": [t for t in items if t.is_retired],
    }
    return render(request, "provisioning/templates.html", ctx)


def _edit_rows(request, form):
    """Apply a form's "Add an attribute" or "Remove" (with or without JavaScript): the form again,
    unbound, with the rows as edited (no errors shown for what is still being typed)."""
    action = request.POST.get("action", "")
    rows = list(form.attribute_rows)
    if action == "add-attr":
        rows.append(("", "", False))
    else:
        index = action.removeprefix("remove-attr:")
        if index.isdigit() and int(index) < len(rows):
            del rows[int(index)]
    initial = {name: form[name].value() for name in form.fields}
    initial["attributes"] = rows or [("", "", False)]
    return TemplateForm(initial=initial, team=form.team, template=form.template), (
        len(rows) - 1 if action == "add-attr" else "add"
    )


def _form_page(request, ctx, form):
    """The create and edit pages, or (an htmx row edit) their attribute rows."""
    if request.method == "POST" and request.POST.get("action", "").startswith(("add-attr", "remove-attr:")):
        form, ctx["attr_focus"] = _edit_rows(request, form)
        ctx["form"] = form
        if request.htmx:
            return render(request, "provisioning/template_form.html#attributes", ctx)
        return render(request, "provisioning/template_form.html", ctx)
    ctx["form"] = form
    if not form.attribute_rows:
        form.attribute_rows = [("", "", False)]
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "provisioning/template_form.html", ctx, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def template_new(request, team_slug):
    membership = get_membership(request, team_slug, ADMINS)
    team = membership.team
    ctx = {"membership": membership}
    if request.method == "GET":
        kind = request.GET.get("kind", "bosch")
        initial = {
            "kind": kind,
            "enabled": True,
            "credentials_type": "none" if kind == "ditto" else "hashed-password",
        }
        return _form_page(request, ctx, TemplateForm(initial=initial, team=team))
    form = TemplateForm(request.POST, team=team)
    if request.POST.get("action", "save") == "save" and form.is_valid():
        try:
            template = template_admin.create_template(form, actor=request.user, team=team)
        except template_admin.TemplateProblem as problem:
            form.add_error("name", str(problem))
        else:
            messages.success(request, f"Template “{template.name}” saved as version 1.")
            return redirect("template", team_slug, template.pk)
    return _form_page(request, ctx, form)


@login_required
@require_safe
def template_detail(request, team_slug, pk):
    membership, template = get_template(request, team_slug, pk)
    version = template.latest()
    ctx = _version_ctx(membership, template, version)
    ctx.update(
        versions=template.versions.count(),
        used=template_admin.is_used(template),
    )
    return render(request, "provisioning/template_detail.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request, team_slug, pk):
    membership, template = get_template(request, team_slug, pk, ADMINS)
    if template.is_retired:
        messages.info(request, "A retired template is not edited: restore it first.")
        return redirect("template", team_slug, template.pk)
    latest = template.latest()
    ctx = {"membership": membership, "template": template, "latest": latest}
    if request.method == "GET":
        initial = TemplateForm.initial_of(template, latest)
        return _form_page(
            request, ctx, TemplateForm(initial=initial, team=membership.team, template=template)
        )
    form = TemplateForm(request.POST, team=membership.team, template=template)
    if request.POST.get("action", "save") == "save" and form.is_valid():
        try:
            version, new, changed = template_admin.edit_template(
                template, form, actor=request.user, team=membership.team
            )
        except template_admin.TemplateProblem as problem:
            form.add_error("name", str(problem))
        else:
            if new:
                messages.success(
                    request,
                    f"Saved as version {version.number} ({', '.join(change_words(changed))}). "
                    f"Devices made from version {version.number - 1} and earlier keep theirs.",
                )
            elif changed:
                messages.success(
                    request, f"Saved ({', '.join(change_words(changed))}); still version {version.number}."
                )
            else:
                messages.info(request, f"Nothing changed; still version {version.number}.")
            return redirect("template", team_slug, template.pk)
    return _form_page(request, ctx, form)


@login_required
@require_safe
def template_versions(request, team_slug, pk):
    membership, template = get_template(request, team_slug, pk)
    versions = list(template.versions.order_by("number"))
    items = []
    previous = None
    for version in versions:
        changed = template_admin.changes(previous.values(), version.values()) if previous else []
        items.append((version, change_words(changed)))
        previous = version
    ctx = {"membership": membership, "template": template, "items": items[::-1]}
    return render(request, "provisioning/template_versions.html", ctx)


@login_required
@require_safe
def template_version(request, team_slug, pk, number):
    membership, template = get_template(request, team_slug, pk)
    version = get_object_or_404(TemplateVersion, template=template, number=number)
    version.template = template
    ctx = _version_ctx(membership, template, version)
    ctx["latest_number"] = template.versions.aggregate(n=Max("number"))["n"]
    return render(request, "provisioning/template_version.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def template_retire(request, team_slug, pk):
    """GET asks for confirmation (the template's page links here); POST retires."""
    membership, template = get_template(request, team_slug, pk, ADMINS)
    if template.is_retired:
        return redirect("template", team_slug, template.pk)
    if request.method == "GET":
        ctx = {"membership": membership, "template": template, "used": template_admin.is_used(template)}
        return render(request, "provisioning/template_retire.html", ctx)
    template_admin.retire_template(template, actor=request.user, team=membership.team)
    messages.success(request, f"Template “{template.name}” retired: it is no longer offered.")
    return redirect("template", team_slug, template.pk)


@login_required
@require_POST
def template_restore(request, team_slug, pk):
    membership, template = get_template(request, team_slug, pk, ADMINS)
    if not template.is_retired:
        raise Http404("Only a retired template is restored.")
    try:
        template_admin.restore_template(template, actor=request.user, team=membership.team)
    except template_admin.TemplateProblem as problem:
        messages.error(request, str(problem))
    else:
        messages.success(request, f"Template “{template.name}” is offered again.")
    return redirect("template", team_slug, template.pk)


@login_required
@require_http_methods(["GET", "POST"])
def template_delete(request, team_slug, pk):
    """GET asks for confirmation (or says why it cannot be deleted); POST deletes."""
    membership, template = get_template(request, team_slug, pk, ADMINS)
    ctx = {"membership": membership, "template": template, "used": template_admin.is_used(template)}
    if request.method == "POST" and not ctx["used"]:
        name = template.name
        try:
            template_admin.delete_template(template, actor=request.user, team=membership.team)
        except template_admin.TemplateProblem as problem:
            ctx.update(used=True, problem=str(problem))
        else:
            messages.success(request, f"Template “{name}” deleted.")
            return redirect("templates", team_slug)
    status = 409 if request.method == "POST" else 200
    return render(request, "provisioning/template_delete.html", ctx, status=status)
