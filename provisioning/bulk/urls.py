"""Included by provisioning/urls.py under t/<team_slug>/bulk/."""

from django.urls import path

from provisioning.bulk import views

app_name = "bulk"
urlpatterns = [
    path("", views.job_list, name="jobs"),
    path("new/", views.upload, name="upload"),
    path("template.csv", views.template_csv, name="template"),
    path("<int:pk>/", views.job_detail, name="job"),
    path("<int:pk>/columns/", views.columns, name="columns"),
    path("<int:pk>/start/", views.start, name="start"),
    path("<int:pk>/discard/", views.discard, name="discard"),
    path("<int:pk>/cancel/", views.cancel, name="cancel"),
    path("<int:pk>/resume/", views.resume, name="resume"),
    path("<int:pk>/retry-unknown/", views.retry_unknown, name="retry_unknown"),
    path("<int:pk>/failed-rows.csv", views.failed_csv, name="failed_csv"),
    path("<int:pk>/credentials/", views.credentials_download, name="credentials"),
]
