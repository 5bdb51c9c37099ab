"""Ditto's ids, things and policies: what a body may hold, and what a policy grants.

Facts from provisioning-api.md §6.1 and §11 and ``ditto-api-2.yml``:

- ids are ``namespace:name``, at most 256 characters; the namespace starts with a letter
  and ``.`` or ``-`` separate segments that each start with a letter; the name holds no
  ``/`` and no control character;
- a thing body holds ``policyId``, ``_policy`` or ``_copyPolicyFrom`` (not the last two
  together), ``definition``, ``attributes`` and ``features``; a ``thingId`` must equal the
  path's;
- a policy is ``{"entries": {LABEL: {"subjects": {...}, "resources": {"thing:/": {"grant":
  [...], "revoke": [...]}}}}}``; ``{{ request:subjectId }}`` stands for the caller.

What a policy grants is read at the root of each resource type only (``thing:/``,
``policy:/``, ``message:/``): a permission holds when an entry naming the subject grants it
there and none revokes it there. Deeper paths, entry namespaces and imports are stored and
shown but do not change a decision.

A problem raises DittoError (status, error code, message, description); the error codes
follow Ditto's where they are known, and the texts are Ditto's own where §5.3 quotes them.
"""

import re

ID_HREF = "https://www.eclipse.dev/ditto/basic-namespaces-and-names.html#namespaced-id"
NAMESPACE = r"[A-Za-z][A-Za-z0-9_]*(?:[.-][A-Za-z][A-Za-z0-9_]*)*"
ENTITY_ID = re.compile(rf"{NAMESPACE}:[^\x00-\x1F\x7F-\xFF/]+")
MAX_ID = 256
DEFINITION = re.compile(r"([_a-zA-Z0-9\-.]+):([_a-zA-Z0-9\-.]+):([_a-zA-Z0-9\-.]+)|https?://\S+")
SUBJECT_PLACEHOLDER = re.compile(r"\{\{\s*request:subjectId\s*\}\}")
COPY_REFERENCE = re.compile(r"\{\{\s*ref:things/([^/]+)/policyId\s*\}\}")
RESOURCE_KEY = re.compile(r"(thing|policy|message):/.*")
PERMISSIONS = ("READ", "WRITE")
THING_FIELDS = {"thingId", "policyId", "_policy", "_copyPolicyFrom", "definition", "attributes", "features"}
POLICY_FIELDS = {"policyId", "entries", "imports"}
ENTRY_FIELDS = {"subjects", "resources", "namespaces", "importable", "allowedAdditions", "references"}
FEATURE_FIELDS = {"definition", "properties", "desiredProperties"}


class DittoError(Exception):
    def __init__(self, status, error, message, description=None, *, href=None, headers=None):
        super().__init__(message)
        self.body = {"status": status, "error": error, "message": message}
        if description:
            self.body["description"] = description
        if href:
            self.body["href"] = href
        self.status = status
        self.headers = headers or {}


def valid_id(value):
    return 0 < len(value) <= MAX_ID and ENTITY_ID.fullmatch(value) is not None


def check_thing_id(thing_id):
    if not valid_id(thing_id):
        raise DittoError(
            400,
            "things:id.invalid",
            f"Thing ID '{thing_id}' is not valid!",
            "It must conform to the namespaced entity ID notation (see Ditto documentation)",
            href=ID_HREF,
        )


def check_policy_id(policy_id):
    if not valid_id(policy_id):
        raise DittoError(
            400,
            "policies:id.invalid",
            f"Policy ID '{policy_id}' is not valid!",
            "It must conform to the namespaced entity ID notation (see Ditto documentation)",
            href=ID_HREF,
        )


def _invalid(code, message):
    return DittoError(400, code, message, "Check the JSON body of your request.")


def _key_problem(key):
    if not isinstance(key, str) or not key or len(key) > MAX_ID or key == "*":
        return True
    return "/" in key or any(ord(c) < 0x20 or ord(c) == 0x7F for c in key)


def check_thing(body, thing_id):
    """The thing body of a PUT; returns it with ``thingId`` removed."""
    if not isinstance(body, dict):
        raise _invalid("json.invalid", "The thing must be a JSON object.")
    unknown = sorted(set(body) - THING_FIELDS)
    if unknown:
        raise _invalid("things:thing.invalid", f"The thing has an unknown field '{unknown[0]}'.")
    if "thingId" in body and body["thingId"] != thing_id:
        raise DittoError(
            400,
            "things:id.notsettable",
            "The Thing ID in the request body is not equal to the Thing ID in the request URL.",
            "Either delete the Thing ID from the request body or use "
            "the same Thing ID as in the request URL.",
        )
    if "_policy" in body and "_copyPolicyFrom" in body:
        raise _invalid(
            "things:thing.invalid", "The fields '_policy' and '_copyPolicyFrom' exclude each other."
        )
    if "policyId" in body:
        if not isinstance(body["policyId"], str):
            raise _invalid("things:thing.invalid", "The field 'policyId' must be a string.")
        check_policy_id(body["policyId"])
    if "_copyPolicyFrom" in body and not isinstance(body["_copyPolicyFrom"], str):
        raise _invalid("things:thing.invalid", "The field '_copyPolicyFrom' must be a string.")
    definition = body.get("definition")
    if definition is not None and (not isinstance(definition, str) or not DEFINITION.fullmatch(definition)):
        raise DittoError(
            400,
            "things:definition.identifier.invalid",
            f"Thing Definition identifier <{definition}> is invalid!",
            "An identifier is of the form 'namespace:name:version' or a valid HTTP(s) URL.",
        )
    attributes = body.get("attributes", {})
    if not isinstance(attributes, dict) or any(_key_problem(key) for key in attributes):
        raise _invalid("things:attributes.invalid", "The attributes must be a JSON object with valid keys.")
    features = body.get("features", {})
    if not isinstance(features, dict):
        raise _invalid("things:features.invalid", "The features must be a JSON object.")
    for feature_id, feature in features.items():
        _check_feature(feature_id, feature)
    # "definition": null means no definition.
    return {key: value for key, value in body.items() if key != "thingId" and value is not None}


def _check_feature(feature_id, feature):
    if _key_problem(feature_id) or re.fullmatch(r"\{\{.*\}\}", feature_id):
        raise _invalid("things:feature.id.invalid", f"The Feature ID '{feature_id}' is not valid.")
    if not isinstance(feature, dict):
        raise _invalid("things:feature.invalid", f"The Feature '{feature_id}' must be a JSON object.")
    unknown = sorted(set(feature) - FEATURE_FIELDS)
    if unknown:
        raise _invalid(
            "things:feature.invalid", f"The Feature '{feature_id}' has an unknown field '{unknown[0]}'."
        )
    definition = feature.get("definition", [])
    if not isinstance(definition, list) or not all(
        isinstance(item, str) and DEFINITION.fullmatch(item) for item in definition
    ):
        raise _invalid(
            "things:feature.definition.invalid", f"The definition of Feature '{feature_id}' is invalid."
        )
    for key in ("properties", "desiredProperties"):
        if not isinstance(feature.get(key, {}), dict):
            raise _invalid(
                "things:feature.invalid", f"The {key} of Feature '{feature_id}' must be a JSON object."
            )


def check_policy(body, policy_id, subject):
    """(entries, imports) of a policy body, with ``{{ request:subjectId }}`` filled in."""
    if not isinstance(body, dict):
        raise _invalid("json.invalid", "The policy must be a JSON object.")
    unknown = sorted(set(body) - POLICY_FIELDS)
    if unknown:
        raise _invalid("policies:policy.invalid", f"The policy has an unknown field '{unknown[0]}'.")
    if "policyId" in body and body["policyId"] != policy_id:
        raise DittoError(
            400,
            "policies:id.notsettable",
            "The Policy ID in the request body is not equal to the Policy ID in the request URL.",
            "Either delete the Policy ID from the request body or use "
            "the same Policy ID as in the request URL.",
        )
    entries = body.get("entries")
    if not isinstance(entries, dict) or not entries:
        raise _invalid("policies:policy.invalid", "The policy needs at least one entry in 'entries'.")
    checked = {label: _entry(label, entry, subject) for label, entry in entries.items()}
    imports = body.get("imports")
    if imports is not None and (
        not isinstance(imports, dict)
        or not all(valid_id(key) and isinstance(v, dict) for key, v in imports.items())
    ):
        raise _invalid("policies:imports.invalid", "The imports must map policy IDs to JSON objects.")
    return checked, imports


def _entry(label, entry, subject):
    if _key_problem(label):
        raise _invalid("policies:label.invalid", f"The Policy Label '{label}' is not valid.")
    if not isinstance(entry, dict):
        raise _invalid("policies:entry.invalid", f"The policy entry '{label}' must be a JSON object.")
    unknown = sorted(set(entry) - ENTRY_FIELDS)
    if unknown:
        raise _invalid(
            "policies:entry.invalid", f"The policy entry '{label}' has an unknown field '{unknown[0]}'."
        )
    subjects = entry.get("subjects", {})
    if not isinstance(subjects, dict):
        raise _invalid("policies:subjects.invalid", f"The subjects of '{label}' must be a JSON object.")
    filled = {}
    for subject_id, value in subjects.items():
        subject_id = SUBJECT_PLACEHOLDER.sub(subject, subject_id)
        if not subject_id or not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise _invalid(
                "policies:subject.invalid", f"A subject of '{label}' needs an id and a string 'type'."
            )
        filled[subject_id] = value
    resources = entry.get("resources", {})
    if not isinstance(resources, dict):
        raise _invalid("policies:resources.invalid", f"The resources of '{label}' must be a JSON object.")
    for key, value in resources.items():
        if not RESOURCE_KEY.fullmatch(key):
            raise _invalid(
                "policies:resource.invalid",
                f"The resource '{key}' of '{label}' is not 'thing:/…', 'policy:/…' or 'message:/…'.",
            )
        if not isinstance(value, dict) or set(value) - {"grant", "revoke"}:
            raise _invalid(
                "policies:resource.invalid", f"The resource '{key}' of '{label}' holds only grant and revoke."
            )
        for effect in ("grant", "revoke"):
            permissions = value.get(effect) or []
            if not isinstance(permissions, list) or not all(p in PERMISSIONS for p in permissions):
                raise _invalid(
                    "policies:resource.invalid",
                    f"The {effect} of '{key}' in '{label}' may list only READ and WRITE.",
                )
    for key in ("namespaces", "allowedAdditions", "references"):
        if not isinstance(entry.get(key, []), list):
            raise _invalid("policies:entry.invalid", f"The {key} of '{label}' must be an array.")
    return {**entry, "subjects": filled}


def has(entries, subject, resource_type, permission):
    """True when ``entries`` grant ``subject`` ``permission`` on ``<resource_type>:/``."""
    granted = revoked = False
    for entry in entries.values():
        if subject not in entry.get("subjects", {}):
            continue
        resource = entry.get("resources", {}).get(f"{resource_type}:/") or {}
        granted = granted or permission in (resource.get("grant") or [])
        revoked = revoked or permission in (resource.get("revoke") or [])
    return granted and not revoked


def default_policy(subject):
    """What Ditto creates for a thing created without a policy: the caller may do everything."""
    everything = {"grant": list(PERMISSIONS), "revoke": []}
    return {
        "DEFAULT": {
            "subjects": {subject: {"type": "the creator"}},
            "resources": {"thing:/": everything, "policy:/": everything, "message:/": everything},
        }
    }
