"""Admin pages to browse (and delete from) what the sandbox holds.

View-only: instances and clients are made with provisioning.sandbox.seed (the
client secret exists only as a hash), devices through the API, and knobs and
faults on /sandbox/.
"""

from django.contrib import admin

from provisioning.sandbox.models import (
    HubCredentials,
    HubDevice,
    Policy,
    SandboxClient,
    ServiceInstance,
    Thing,
)


class ViewOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ServiceInstance)
class ServiceInstanceAdmin(ViewOnlyAdmin):
    list_display = ["sid", "label", "created_at"]
    search_fields = ["sid", "label"]


@admin.register(SandboxClient)
class SandboxClientAdmin(ViewOnlyAdmin):
    list_display = ["client_id", "style", "tenant", "token_lifetime", "created_at"]
    list_filter = ["style"]
    search_fields = ["client_id"]
    exclude = ["secret_hash"]


@admin.register(HubDevice)
class HubDeviceAdmin(ViewOnlyAdmin):
    list_display = ["device_id", "instance", "created_at"]
    list_filter = ["instance"]
    search_fields = ["device_id"]


@admin.register(HubCredentials)
class HubCredentialsAdmin(ViewOnlyAdmin):
    list_display = ["auth_id", "type", "device_id", "instance", "enabled"]
    list_filter = ["instance", "type"]
    search_fields = ["auth_id", "device_id"]


@admin.register(Thing)
class ThingAdmin(ViewOnlyAdmin):
    list_display = ["thing_id", "policy_id", "instance", "created_at"]
    list_filter = ["instance"]
    search_fields = ["thing_id", "policy_id"]


@admin.register(Policy)
class PolicyAdmin(ViewOnlyAdmin):
    list_display = ["policy_id", "instance", "created_at"]
    list_filter = ["instance"]
    search_fields = ["policy_id"]
