"""The sandbox's Bosch IoT Things: ``GET /sandbox/things/api/2/things/{thingId}``, read-only.

Bosch IoT Things is Ditto's HTTP API on a host of its own; it holds the twins that the Bosch
provisioning API made. In the sandbox those are the ``Thing`` rows of the service instances
(store.py), apart from the sandbox's own Ditto (ditto.py, ``/sandbox/api/2``), so a Bosch
connection's Things base URL is ``<sandbox>/things``.

Like Bosch's, it takes the bearer token of the provisioning API: a twin is found in the
service instances the token covers (oauth.covers), and anything else, missing or not covered,
answers Ditto's 404. Answers and faults are Ditto's (the "ditto" fault target).
"""

from django.views.decorators.csrf import csrf_exempt

from provisioning.sandbox import auth, faults, oauth, storable
from provisioning.sandbox import knobs as knob_store
from provisioning.sandbox.ditto import answer, refuse, thing_not_found
from provisioning.sandbox.ditto_model import DittoError, check_thing_id
from provisioning.sandbox.errors import json_response
from provisioning.sandbox.models import Fault, Thing


@csrf_exempt
def thing(request, thing_id):
    def handle(knobs):
        try:
            try:
                claims = oauth.verify(
                    oauth.bearer_token(request),
                    now=knob_store.clock(knobs),
                    revoked_through=knobs.tokens_revoked_through,
                )
            except oauth.InvalidToken as error:
                raise DittoError(
                    401,
                    "gateway:authentication.failed",
                    str(error),
                    "Check if your credentials were correct.",
                    headers={"WWW-Authenticate": auth.CHALLENGE},
                ) from None
            if request.method != "GET":
                raise DittoError(405, "gateway:method.notallowed", "Use GET.", headers={"Allow": "GET"})
            check_thing_id(thing_id)
            rows = Thing.objects.filter(thing_id=thing_id).select_related("instance")
            readable = rows if storable.storable_text(thing_id) else []
            row = next((row for row in readable if oauth.covers(claims, row.instance.sid)), None)
            if row is None:
                raise thing_not_found(thing_id)
            # The sandbox's Bosch twins are never modified after they are made: revision 1.
            body = {"thingId": row.thing_id, "policyId": row.policy_id, **row.data}
            return json_response(body, headers={"ETag": '"rev:1"'})
        except DittoError as error:
            return answer(error)

    return faults.serve(request, Fault.Target.DITTO, handle, refuse)
