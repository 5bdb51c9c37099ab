"""The one way tests make connections: Bosch IoT Suite defaults, overridable."""

from provisioning.models import Connection

SUITE_TOKEN_URL = "https://access.bosch-iot-suite.com/token"
SUITE_API_BASE_URL = "https://deviceprovisioning.eu-1.bosch-iot-suite.com/api/1"
SID = "0081db5c-9765-4ffa-8a54-a3a71021dc67"


def make_config(team, *, name="Suite A", secret="client-a-secret-value", **overrides):
    """A saved configuration of ``team``; ``secret=None`` stores none."""
    fields = {
        "team": team,
        "name": name,
        "preset": "suite_auth",
        "token_url": SUITE_TOKEN_URL,
        "client_id": f"{name.lower().replace(' ', '-')}-id",
        "api_base_url": SUITE_API_BASE_URL,
        "service_instance_id": SID,
        **overrides,
    }
    config = Connection(**fields)
    if secret is not None:
        config.set_secret(secret)
    config.save()
    return config
