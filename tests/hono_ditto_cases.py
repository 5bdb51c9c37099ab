"""The connections and devices the Hono + Ditto tests share."""

from provisioning.providers import hono_ditto as hd
from provisioning.providers import spec as specs
from provisioning.providers.spec import DeviceSpec

DEVICE_ID = "org.acme:sensor-1"
PASSWORD = "S3cure-Pa55-4711"
PSK = "c2VjcmV0LXByZS1zaGFyZWQta2V5LTQ3MTE="
GENERATED_SECRET = "Gen-3rated-Pa55!x"

HONO_DITTO = hd.ConnectionSettings(
    hono_url="https://hono.example:28443",
    tenant="acme-tenant",
    ditto_url="https://ditto.example",
    own_subject="nginx:provisioner",
    hono_auth=hd.BASIC,
    hono_username="registry-admin",
    name="Acme lab",
)
DITTO_ONLY = hd.ConnectionSettings(
    ditto_url="https://ditto.example/", ditto_auth=hd.BASIC, ditto_username="ditto"
)


def device(**fields):
    return DeviceSpec(**{"id": DEVICE_ID, **fields})


FULL = device(
    credentials=specs.TYPED_PASSWORD,
    secret=PASSWORD,
    via=("org.acme:gateway-1",),
    attributes={"serial": "4711", "location": {"floor": 2}},
    features={"temperature": {"properties": {"value": 21.5}}},
    definition="org.acme:sensor:1.0.0",
)
SPECS = {
    "typed password, everything": FULL,
    "generated password": device(credentials=specs.GENERATED_PASSWORD),
    "psk": device(credentials=specs.PSK, secret=PSK, auth_id="psk-identity-1"),
    "generated psk": device(credentials=specs.PSK),
    "no credentials, disabled": device(enabled=False),
    "existing policy": device(credentials=specs.TYPED_PASSWORD, secret=PASSWORD, policy_id="org.acme:shared"),
}
DITTO_SPECS = {
    "bare": device(),
    "everything": device(attributes={"a": [1, 2]}, features={"f": {}}, definition="a.b:c:1"),
    "existing policy": device(policy_id="org.acme:shared"),
}
