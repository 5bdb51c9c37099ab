"""What we sent for a device against what the provider holds now: pure functions, no I/O.

"Check at provider" (provisioning.drift) and the "already exists" answers of a resumed
Hono + Ditto attempt (hono_ditto_service) read a part back and ask these functions what
differs. Each returns a list of Difference, empty when the part is as we would have made it.

What is compared, and what is not:
- Hono device: ``enabled`` (absent means true) and ``via`` (absent means none).
- Hono credentials: the (type, auth-id) pairs only; secrets are never read (the registry
  returns metadata) and never compared.
- Ditto thing: ``policyId`` (when we named one), ``definition``, every attribute (by its path),
  and the features by id and definition. Feature properties are the device's live data and
  change as it reports, so their values are not compared.
- Ditto policy: each entry's label, its subjects (by id; Ditto fills in the caller's subject
  for ``{{ request:subjectId }}``, so that one matches any single subject) and each
  resource's grant and revoke (as sets; Ditto adds fields such as ``importable``, ignored).
"""

import json
from dataclasses import dataclass

REQUEST_SUBJECT = "{{ request:subjectId }}"  # as providers.hono_ditto sends it
MAX_VALUE = 80  # characters of a value shown in a difference


class _Missing:
    def __repr__(self):
        return "MISSING"


MISSING = _Missing()  # a side on which the field does not exist


def shown(value):
    """A value as a difference shows it: short JSON, or "(none)"."""
    if value is MISSING:
        return "(none)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


@dataclass(frozen=True)
class Difference:
    field: str  # "attributes.location.floor", "enabled", "entries.HONO.subjects"
    sent: object  # what we sent (MISSING: we did not send it)
    found: object  # what the provider holds (MISSING: it holds none)

    def as_dict(self):
        return {"field": self.field, "sent": shown(self.sent), "found": shown(self.found)}

    @property
    def words(self):
        return f"{self.field}: sent {shown(self.sent)}, found {shown(self.found)}"


def describe(differences, limit=5):
    """The differences in one line, at most ``limit`` of them named."""
    named = "; ".join(difference.words for difference in differences[:limit])
    more = len(differences) - limit
    return named + (f"; and {more} more" if more > 0 else "")


def _object(value):
    return value if isinstance(value, dict) else {}


def _deep(prefix, sent, found):
    """Differences between two JSON values, by path (objects are walked, anything else compared whole)."""
    if isinstance(sent, dict) and isinstance(found, dict):
        differences = []
        for key in list(sent) + [key for key in found if key not in sent]:
            differences += _deep(f"{prefix}.{key}", sent.get(key, MISSING), found.get(key, MISSING))
        return differences
    return [] if sent == found else [Difference(prefix, sent, found)]


# --- Hono -------------------------------------------------------------------------------------


def device_differences(sent, found):
    """A Hono device (the body we POSTed) against the registry's GET answer."""
    sent, found = _object(sent), _object(found)
    differences = []
    sent_enabled, found_enabled = (
        sent.get("enabled", True) is not False,
        found.get("enabled", True) is not False,
    )
    if sent_enabled != found_enabled:
        differences.append(Difference("enabled", sent_enabled, found_enabled))
    sent_via, found_via = sorted(sent.get("via") or []), sorted(found.get("via") or [])
    if sent_via != found_via:
        differences.append(Difference("via", sent_via or MISSING, found_via or MISSING))
    return differences


def credential_pairs(credentials):
    """The sorted "type auth-id" of each credential in a list (ours or the registry's)."""
    pairs = {
        f"{item.get('type')} {item.get('auth-id')}" for item in credentials or [] if isinstance(item, dict)
    }
    return sorted(pairs)


def credentials_differences(sent, found):
    """The credentials we PUT against the registry's metadata: by (type, auth-id) only."""
    sent_pairs, found_pairs = credential_pairs(sent), credential_pairs(found)
    if sent_pairs == found_pairs:
        return []
    return [Difference("credentials", sent_pairs or MISSING, found_pairs or MISSING)]


# --- Ditto ------------------------------------------------------------------------------------


def thing_differences(sent, found):
    """A Ditto thing (the NewThing we PUT, or Bosch's ``things.thing``) against GET's answer."""
    sent, found = _object(sent), _object(found)
    differences = []
    if sent.get("policyId") and sent["policyId"] != found.get("policyId"):
        differences.append(Difference("policyId", sent["policyId"], found.get("policyId", MISSING)))
    sent_definition, found_definition = sent.get("definition") or MISSING, found.get("definition") or MISSING
    if sent_definition != found_definition:
        differences.append(Difference("definition", sent_definition, found_definition))
    differences += _deep("attributes", _object(sent.get("attributes")), _object(found.get("attributes")))
    sent_features, found_features = _object(sent.get("features")), _object(found.get("features"))
    for feature in list(sent_features) + [f for f in found_features if f not in sent_features]:
        if feature not in found_features or feature not in sent_features:
            differences.append(
                Difference(
                    f"features.{feature}",
                    "present" if feature in sent_features else MISSING,
                    "present" if feature in found_features else MISSING,
                )
            )
            continue
        sent_def = _object(sent_features[feature]).get("definition", MISSING)
        found_def = _object(found_features[feature]).get("definition", MISSING)
        if sent_def != found_def:
            differences.append(Difference(f"features.{feature}.definition", sent_def, found_def))
    return differences


def _subjects(entry):
    return set(_object(_object(entry).get("subjects")))


def _resources(entry):
    resources = _object(_object(entry).get("resources"))
    return {
        path: (sorted(_object(rules).get("grant") or []), sorted(_object(rules).get("revoke") or []))
        for path, rules in resources.items()
    }


def _subject_differences(label, sent, found):
    sent, found = set(sent), set(found)
    placeholder = REQUEST_SUBJECT in sent
    sent.discard(REQUEST_SUBJECT)
    missing, extra = sent - found, found - sent
    if placeholder and len(extra) == 1:
        extra = set()  # Ditto put the caller's subject where we asked for it
    elif placeholder and not extra:
        missing.add(REQUEST_SUBJECT)
    if not missing and not extra:
        return []
    return [Difference(f"entries.{label}.subjects", sorted(missing) or MISSING, sorted(extra) or MISSING)]


def policy_differences(sent, found):
    """A Ditto policy (the NewPolicy we PUT) against GET's answer: labels, subjects, resources."""
    sent_entries = _object(_object(sent).get("entries"))
    found_entries = _object(_object(found).get("entries"))
    differences = []
    for label in list(sent_entries) + [label for label in found_entries if label not in sent_entries]:
        if label not in found_entries or label not in sent_entries:
            differences.append(
                Difference(
                    f"entries.{label}",
                    "present" if label in sent_entries else MISSING,
                    "present" if label in found_entries else MISSING,
                )
            )
            continue
        differences += _subject_differences(
            label, _subjects(sent_entries[label]), _subjects(found_entries[label])
        )
        sent_resources, found_resources = _resources(sent_entries[label]), _resources(found_entries[label])
        for path in list(sent_resources) + [p for p in found_resources if p not in sent_resources]:
            mine, theirs = sent_resources.get(path, MISSING), found_resources.get(path, MISSING)
            if mine != theirs:
                differences.append(
                    Difference(
                        f"entries.{label}.resources.{path}",
                        _rules(mine),
                        _rules(theirs),
                    )
                )
    return differences


def _rules(rules):
    if rules is MISSING:
        return MISSING
    grant, revoke = rules
    return {"grant": grant, "revoke": revoke}


# --- a part as a whole ------------------------------------------------------------------------

DIFFERENCES = {
    "device": device_differences,
    "credentials": credentials_differences,
    "policy": policy_differences,
    "thing": thing_differences,
}
PRESENT, MISSING_PART, DIFFERENT, FAILED = "present", "missing", "different", "failed"


def part_differences(part, sent, found):
    """The differences of one part ("device", "credentials", "policy", "thing")."""
    return DIFFERENCES[part](sent, found)


def verdict(states):
    """One word for a check from its parts' states: "failed" when a read failed (nothing
    certain), "present" when every part is there as sent, "missing" when none is, "different"
    when a part differs, else "partial" (some there, some not)."""
    states = list(states)
    if not states or FAILED in states:
        return FAILED
    if all(state == PRESENT for state in states):
        return PRESENT
    if all(state == MISSING_PART for state in states):
        return MISSING_PART
    if DIFFERENT in states:
        return DIFFERENT
    return "partial"
