from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import models

from provisioning import team_admin
from provisioning.forms import AdminLoginForm
from provisioning.models import AuditEvent, Connection, Invitation, Membership, Namespace, Team

# With LOCAL_LOGIN_SUPERUSERS_ONLY, staff who are not superusers may not log in here with a password either.
admin.site.login_form = AdminLoginForm


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    """Read-only: team admins create and change connections in the dashboard.

    Only there are URLs checked, the secret encrypted, the config version bumped and
    the change audited; an edit here would skip all four.
    """

    list_display = ["name", "team", "kind", "preset", "client_id", "config_version", "last_success_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_filter = ["kind", "preset", "team"]
    search_fields = ["name", "client_id"]
    exclude = ["secret_sealed", "hono_password_sealed", "ditto_password_sealed"]
    readonly_fields = [
        "secret_fingerprint",
        "secret_set_at",
        "config_version",
        "last_success_at",
        "last_error",
        "last_error_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "client"]
    list_filter = ["team"]
    search_fields = ["name"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Invitations are issued by team admins in the dashboard (which shows the link once).

    Here they can be looked at and withdrawn (deleted), not created or changed.
    """

    list_display = ["email", "team", "role", "created_at", "expires_at", "accepted_at"]
    exclude = ["token_hash"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Audit rows can be read here and never changed or deleted."""

    list_display = [
        "created_at",
        "action",
        "phase",
        "status",
        "team_name",
        "actor_name",
        "target",
        "http_status",
    ]
    list_filter = ["action", "status", "phase"]
    search_fields = ["target", "correlation_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class ProvisionerUserAdmin(UserAdmin):
    """Django's user admin, with one action for superusers: e-mail a password reset link."""

    actions = ["send_password_reset"]

    def has_send_password_reset_permission(self, request):
        return request.user.is_superuser

    @admin.action(description="E-mail a link to set a new password", permissions=["send_password_reset"])
    def send_password_reset(self, request, queryset):
        for user in queryset:
            try:
                team_admin.send_password_reset(user, actor=request.user, team=None, request=request)
            except team_admin.EmailNotSent as exc:
                self.message_user(request, f"{user.username}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{user.username}: a reset link was e-mailed to {user.email}.")
