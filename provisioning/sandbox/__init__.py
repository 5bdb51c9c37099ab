"""The built-in sandbox: a simulator of the Bosch token endpoints and Device Provisioning API,
of an Eclipse Hono device registry and of Eclipse Ditto.

Mounted at /sandbox/ when SANDBOX_ENABLED is true (config/urls.py):

    POST   /sandbox/token                                       Suite Auth (Hydra) style token
    POST   /sandbox/iam/access-management/v1/tenants/<tenant>/openid-connect/token
                                                                Nexeed IAM style token
    POST   /sandbox/api/1/<service-instance-id>/devices         provision (P1)
    DELETE /sandbox/api/1/<service-instance-id>/devices/<id>    de-provision (P2)
    POST|GET|PUT|DELETE /sandbox/v1/tenants/<tenant>            Hono tenants (also POST|GET /v1/tenants)
    POST|GET|DELETE     /sandbox/v1/devices/<tenant>            Hono: create (id chosen), search, delete all
    POST|GET|PUT|DELETE /sandbox/v1/devices/<tenant>/<device>   Hono device registration
    GET|PUT             /sandbox/v1/credentials/<tenant>/<device>
                                                                Hono credentials set
    PUT|GET|DELETE      /sandbox/api/2/things/<thingId>         Ditto thing
    PUT|GET|DELETE      /sandbox/api/2/policies/<policyId>      Ditto policy
    GET    /sandbox/                                            knobs, faults, counters (login)

Modules: views (HTTP), oauth (tokens and what they cover), storable (JSON bodies and
path text the database can take), payload (checking a P1 body, the 201 body), store
(the simulated resources; conflicts and the partial-delete rules),
knobs (switches, faults, token counter: the Python API for tests and benchmarks),
faults (acting them out), seed (tenants: ensure_demo_tenant, create_tenant; Hono tenants and
Basic users: ensure_demo_hono_ditto, create_hono_tenant, create_basic_user), auth (Basic or
bearer at Hono and Ditto), hono with hono_registry and hono_credentials (the registry), ditto
with ditto_model (things and policies).
State lives in the database, so every web process sees the same sandbox.
"""
