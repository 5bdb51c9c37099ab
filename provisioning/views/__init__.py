"""Function views, one module per noun. Each view loads its objects through provisioning.access."""

from provisioning.views.account import theme
from provisioning.views.clients import client_delete, client_detail, client_new, client_test, clients
from provisioning.views.devices import device_new
from provisioning.views.history import deprovision, history, history_entry, history_export
from provisioning.views.members import (
    accept_invitation,
    invitation_revoke,
    member_remove,
    member_role,
    members,
)
from provisioning.views.namespaces import namespace_delete, namespaces
from provisioning.views.team import healthz, home, locked_out, team

__all__ = [
    "accept_invitation",
    "client_delete",
    "client_detail",
    "client_new",
    "client_test",
    "clients",
    "deprovision",
    "device_new",
    "healthz",
    "history",
    "history_entry",
    "history_export",
    "home",
    "invitation_revoke",
    "locked_out",
    "member_remove",
    "member_role",
    "members",
    "namespace_delete",
    "namespaces",
    "team",
    "theme",
]
