from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self):
        from provisioning import inventory  # its receiver keeps the inventory in step with the audit log

        post_migrate.connect(inventory.fill_after_migrate, sender=self, dispatch_uid="provisioning.inventory")
