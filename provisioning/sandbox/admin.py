"""Admin pages to browse (and delete from) what the sandbox holds.

View-only: instances, clients, Hono tenants and Basic users are made with
provisioning.sandbox.seed (secrets exist only as hashes), devices, things and
policies through the APIs, and knobs and faults on /sandbox/.
"""

from django.contrib import admin

from provisioning.sandbox.models import (
    BasicUser,
    DittoPolicy,
    DittoThing,
    HonoCredential,
    HonoDevice,
    HonoTenant,
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


@admin.register(BasicUser)
class BasicUserAdmin(ViewOnlyAdmin):
    list_display = ["username", "created_at"]
    search_fields = ["username"]
    exclude = ["secret_hash"]


@admin.register(HonoTenant)
class HonoTenantAdmin(ViewOnlyAdmin):
    list_display = ["tenant_id", "created_at"]
    search_fields = ["tenant_id"]


@admin.register(HonoDevice)
class HonoDeviceAdmin(ViewOnlyAdmin):
    list_display = ["device_id", "tenant", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["device_id"]


@admin.register(HonoCredential)
class HonoCredentialAdmin(ViewOnlyAdmin):
    list_display = ["auth_id", "type", "device", "tenant", "enabled"]
    list_filter = ["tenant", "type"]
    search_fields = ["auth_id"]
    exclude = ["secrets"]


@admin.register(DittoThing)
class DittoThingAdmin(ViewOnlyAdmin):
    list_display = ["thing_id", "policy_id", "revision", "updated_at"]
    search_fields = ["thing_id", "policy_id"]


@admin.register(DittoPolicy)
class DittoPolicyAdmin(ViewOnlyAdmin):
    list_display = ["policy_id", "revision", "updated_at"]
    search_fields = ["policy_id"]
