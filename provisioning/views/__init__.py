"""Function views, one module per noun. Each view loads its objects through provisioning.access."""

from provisioning.views.account import PasswordChangeView, theme
from provisioning.views.configs import config_delete, config_detail, config_new, config_test, configs
from provisioning.views.devices import device_new, device_send_progress
from provisioning.views.groups import group_delete, groups
from provisioning.views.history import deprovision, history_check, history_entry, history_export, history_list
from provisioning.views.inventory import device_action, device_export, device_list
from provisioning.views.members import (
    accept_invitation,
    invitation_revoke,
    member_password_reset,
    member_remove,
    member_role,
    members,
)
from provisioning.views.namespaces import namespace_delete, namespaces
from provisioning.views.signin import LoginView, logout, oidc_callback, oidc_login
from provisioning.views.team import healthz, home, locked_out, team, team_new
from provisioning.views.templates import (
    template_delete,
    template_detail,
    template_edit,
    template_new,
    template_restore,
    template_retire,
    template_version,
    template_versions,
    templates,
)

__all__ = [
    "LoginView",
    "PasswordChangeView",
    "accept_invitation",
    "config_delete",
    "config_detail",
    "config_new",
    "config_test",
    "configs",
    "deprovision",
    "device_action",
    "device_export",
    "device_list",
    "device_new",
    "device_send_progress",
    "group_delete",
    "groups",
    "healthz",
    "history_check",
    "history_entry",
    "history_export",
    "history_list",
    "home",
    "invitation_revoke",
    "locked_out",
    "logout",
    "member_password_reset",
    "member_remove",
    "member_role",
    "members",
    "namespace_delete",
    "namespaces",
    "oidc_callback",
    "oidc_login",
    "team",
    "team_new",
    "template_delete",
    "template_detail",
    "template_edit",
    "template_new",
    "template_restore",
    "template_retire",
    "template_version",
    "template_versions",
    "templates",
    "theme",
]
