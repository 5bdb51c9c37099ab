from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "provisioning.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox (simulated Bosch endpoints)"
