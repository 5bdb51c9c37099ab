from django.urls import include, path
from django.views.generic import RedirectView

from provisioning import views


def moved(name):
    """A page's path before connections were called so: a permanent redirect (with the query
    string) to where it is now, so bookmarks keep working. The new page checks access."""
    return RedirectView.as_view(pattern_name=name, permanent=True, query_string=True)


urlpatterns = [
    path("", views.home, name="home"),
    path("account/theme/", views.theme, name="theme"),
    path("teams/new/", views.team_new, name="team_new"),
    path("t/<slug:team_slug>/", views.team, name="team"),
    path("t/<slug:team_slug>/connections/", views.configs, name="configs"),
    path("t/<slug:team_slug>/connections/new/", views.config_new, name="config_new"),
    path("t/<slug:team_slug>/connections/<int:pk>/", views.config_detail, name="config"),
    path("t/<slug:team_slug>/connections/<int:pk>/delete/", views.config_delete, name="config_delete"),
    path("t/<slug:team_slug>/connections/<int:pk>/test/", views.config_test, name="config_test"),
    path("t/<slug:team_slug>/devices/", views.device_list, name="devices"),
    path("t/<slug:team_slug>/devices/export/", views.device_export, name="device_export"),
    path("t/<slug:team_slug>/devices/act/", views.device_action, name="device_action"),
    path("t/<slug:team_slug>/devices/new/", views.device_new, name="device_new"),
    path("t/<slug:team_slug>/devices/new/progress/", views.device_send_progress, name="device_send_progress"),
    path("t/<slug:team_slug>/bulk/", include("provisioning.bulk.urls")),
    path("t/<slug:team_slug>/history/", views.history_list, name="history"),
    path("t/<slug:team_slug>/history/export/", views.history_export, name="history_export"),
    path("t/<slug:team_slug>/history/<int:pk>/", views.history_entry, name="history_entry"),
    path("t/<slug:team_slug>/history/<int:pk>/deprovision/", views.deprovision, name="deprovision"),
    path("t/<slug:team_slug>/history/<int:pk>/check/", views.history_check, name="history_check"),
    path("t/<slug:team_slug>/namespaces/", views.namespaces, name="namespaces"),
    path("t/<slug:team_slug>/namespaces/<int:pk>/delete/", views.namespace_delete, name="namespace_delete"),
    path("t/<slug:team_slug>/templates/", views.templates, name="templates"),
    path("t/<slug:team_slug>/templates/new/", views.template_new, name="template_new"),
    path("t/<slug:team_slug>/templates/<int:pk>/", views.template_detail, name="template"),
    path("t/<slug:team_slug>/templates/<int:pk>/edit/", views.template_edit, name="template_edit"),
    path(
        "t/<slug:team_slug>/templates/<int:pk>/versions/", views.template_versions, name="template_versions"
    ),
    path(
        "t/<slug:team_slug>/templates/<int:pk>/versions/<int:number>/",
        views.template_version,
        name="template_version",
    ),
    path("t/<slug:team_slug>/templates/<int:pk>/retire/", views.template_retire, name="template_retire"),
    path("t/<slug:team_slug>/templates/<int:pk>/restore/", views.template_restore, name="template_restore"),
    path("t/<slug:team_slug>/templates/<int:pk>/delete/", views.template_delete, name="template_delete"),
    path("t/<slug:team_slug>/members/", views.members, name="members"),
    path("t/<slug:team_slug>/members/<int:pk>/role/", views.member_role, name="member_role"),
    path("t/<slug:team_slug>/members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path(
        "t/<slug:team_slug>/members/<int:pk>/password-reset/",
        views.member_password_reset,
        name="member_password_reset",
    ),
    path("t/<slug:team_slug>/groups/", views.groups, name="groups"),
    path("t/<slug:team_slug>/groups/<int:pk>/delete/", views.group_delete, name="group_delete"),
    path(
        "t/<slug:team_slug>/invitations/<int:pk>/revoke/", views.invitation_revoke, name="invitation_revoke"
    ),
    # Before issue 13 connections were "client configurations" at .../clients/.
    path("t/<slug:team_slug>/clients/", moved("configs")),
    path("t/<slug:team_slug>/clients/new/", moved("config_new")),
    path("t/<slug:team_slug>/clients/<int:pk>/", moved("config")),
    path("t/<slug:team_slug>/clients/<int:pk>/delete/", moved("config_delete")),
]
