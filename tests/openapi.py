"""Validate bodies against the Bosch OpenAPI document in shared/specs (OpenAPI 3.0)."""

from functools import cache
from pathlib import Path

import yaml
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

# A copy of shared/specs/bosch-device-provisioning-api-1.yaml, kept in the repo so tests stand alone.
SPEC = Path(__file__).resolve().parent / "specs" / "bosch-device-provisioning-api-1.yaml"


@cache
def _spec():
    return yaml.safe_load(SPEC.read_text(encoding="utf-8"))


@cache
def validator(schema_name):
    """A validator for ``#/components/schemas/<schema_name>``, with the document's local $refs."""
    spec = _spec()
    registry = Registry().with_resource("spec", Resource(contents=spec, specification=DRAFT4))
    return Draft4Validator({"$ref": f"spec#/components/schemas/{schema_name}"}, registry=registry)


def validate(body, schema_name):
    """Raise jsonschema.ValidationError unless ``body`` matches the named schema."""
    validator(schema_name).validate(body)


def errors(schema_name, body):
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(schema_name).iter_errors(body)
    ]
