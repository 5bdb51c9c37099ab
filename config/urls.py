from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from provisioning import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.logout, name="logout"),
    path("accounts/password/", views.PasswordChangeView.as_view(), name="password_change"),
    # Where the e-mailed password reset link leads (a team admin or a superuser sends it).
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"
    ),
    path("accounts/oidc/login/", views.oidc_login, name="oidc_login"),
    path("accounts/oidc/callback/", views.oidc_callback, name="oidc_callback"),
    path("invitations/<str:token>/", views.accept_invitation, name="accept_invitation"),
    path("admin/", admin.site.urls),
    path("", include("provisioning.urls")),
]

if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("provisioning.sandbox.urls")))
