"""Mounted at /sandbox/ by config/urls.py when SANDBOX_ENABLED is true."""

from django.urls import path, re_path

from provisioning.sandbox import bosch_things, ditto, hono, views

app_name = "sandbox"

urlpatterns = [
    path("", views.index, name="index"),
    path("token", views.suite_token, name="suite_token"),
    path(
        "iam/access-management/v1/tenants/<str:tenant>/openid-connect/token",
        views.nexeed_token,
        name="nexeed_token",
    ),
    path("api/1/<str:sid>/devices", views.devices, name="devices"),
    # <path:...> so that an id holding an encoded "/" reaches the view (and gets a JSON 404).
    path("api/1/<str:sid>/devices/<path:device_id>", views.device, name="device"),
    # Eclipse Ditto (ditto.py): things and policies.
    path("api/2/things/<str:thing_id>", ditto.thing, name="ditto_thing"),
    path("api/2/policies/<str:policy_id>", ditto.policy, name="ditto_policy"),
    re_path(r"^api/2/", ditto.not_found),
    # Bosch IoT Things (bosch_things.py): the twins the provisioning API made, read-only, so a
    # Bosch connection's Things base URL is <sandbox>/things.
    path("things/api/2/things/<str:thing_id>", bosch_things.thing, name="bosch_thing"),
    # Eclipse Hono's device registry (hono.py): tenants, devices, credentials.
    path("v1/tenants", hono.tenants, name="hono_tenants"),
    path("v1/tenants/<str:tenant_id>", hono.tenant, name="hono_tenant"),
    path("v1/devices/<str:tenant_id>", hono.devices, name="hono_devices"),
    path("v1/devices/<str:tenant_id>/<str:device_id>", hono.device, name="hono_device"),
    path("v1/credentials/<str:tenant_id>/<str:device_id>", hono.credentials, name="hono_credentials"),
    re_path(r"^v1/", hono.not_found),
    # Anything else under the API prefixes gets a JSON 404, not Django's HTML page.
    re_path(r"^(api|iam)/", views.api_not_found),
]
