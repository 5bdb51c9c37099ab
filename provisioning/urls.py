from django.urls import include, path

from provisioning import views

urlpatterns = [
    path("", views.home, name="home"),
    path("account/theme/", views.theme, name="theme"),
    path("t/<slug:team_slug>/", views.team, name="team"),
    path("t/<slug:team_slug>/clients/", views.clients, name="clients"),
    path("t/<slug:team_slug>/clients/new/", views.client_new, name="client_new"),
    path("t/<slug:team_slug>/clients/<int:pk>/", views.client_detail, name="client"),
    path("t/<slug:team_slug>/clients/<int:pk>/delete/", views.client_delete, name="client_delete"),
    path("t/<slug:team_slug>/clients/<int:pk>/test/", views.client_test, name="client_test"),
    path("t/<slug:team_slug>/devices/new/", views.device_new, name="device_new"),
    path("t/<slug:team_slug>/bulk/", include("provisioning.bulk.urls")),
    path("t/<slug:team_slug>/history/", views.history, name="history"),
    path("t/<slug:team_slug>/history/export/", views.history_export, name="history_export"),
    path("t/<slug:team_slug>/history/<int:pk>/", views.history_entry, name="history_entry"),
    path("t/<slug:team_slug>/history/<int:pk>/deprovision/", views.deprovision, name="deprovision"),
    path("t/<slug:team_slug>/namespaces/", views.namespaces, name="namespaces"),
    path("t/<slug:team_slug>/namespaces/<int:pk>/delete/", views.namespace_delete, name="namespace_delete"),
    path("t/<slug:team_slug>/members/", views.members, name="members"),
    path("t/<slug:team_slug>/members/<int:pk>/role/", views.member_role, name="member_role"),
    path("t/<slug:team_slug>/members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path(
        "t/<slug:team_slug>/invitations/<int:pk>/revoke/", views.invitation_revoke, name="invitation_revoke"
    ),
]
