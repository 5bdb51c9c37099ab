"""The built-in sandbox: a simulator of the Bosch token endpoints and Device Provisioning API.

Mounted at /sandbox/ when SANDBOX_ENABLED is true (config/urls.py):

    POST   /sandbox/token                                       Suite Auth (Hydra) style token
    POST   /sandbox/iam/access-management/v1/tenants/<tenant>/openid-connect/token
                                                                Nexeed IAM style token
    POST   /sandbox/api/1/<service-instance-id>/devices         provision (P1)
    DELETE /sandbox/api/1/<service-instance-id>/devices/<id>    de-provision (P2)
    GET    /sandbox/                                            knobs, faults, counters (login)

Modules: views (HTTP), oauth (tokens and what they cover), storable (JSON bodies and
path text the database can take), payload (checking a P1 body, the 201 body), store
(the simulated resources; conflicts and the partial-delete rules),
knobs (switches, faults, token counter: the Python API for tests and benchmarks),
faults (acting them out), seed (tenants: ensure_demo_tenant, create_tenant).
State lives in the database, so every web process sees the same sandbox.
"""
