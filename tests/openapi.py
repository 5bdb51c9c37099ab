"""Validate bodies against the OpenAPI documents in shared/specs (OpenAPI 3.0): Bosch's
provisioning API (the default), Eclipse Hono's device registry and Eclipse Ditto's HTTP API."""

import copy
import re
from functools import cache
from pathlib import Path

import yaml
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

# Copies of the files in shared/specs, kept in the repo so tests stand alone.
SPECS_DIR = Path(__file__).resolve().parent / "specs"
SPECS = {
    "bosch": SPECS_DIR / "bosch-device-provisioning-api-1.yaml",
    "hono": SPECS_DIR / "hono-device-registry-v1.yaml",
    "ditto": SPECS_DIR / "ditto-api-2.yml",
}
SPEC = SPECS["bosch"]


def merged_all_of(spec):
    """``spec`` with each ``allOf`` of object parts merged into one object schema.

    Hono's document closes every part of an ``allOf`` (and the schema around a ``oneOf``) with
    ``additionalProperties: false``, meaning "nothing beyond the parts together" (as OpenAPI
    tools read it); JSON Schema reads each part alone, so no credentials object could pass.
    Merged, the union is closed instead.
    """
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]

    def resolve(schema):
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        return flatten(schema)

    def flatten(schema):
        if "properties" not in schema and ("oneOf" in schema or "anyOf" in schema):
            # The same closing beside a oneOf: each branch closes itself.
            return {key: value for key, value in schema.items() if key != "additionalProperties"}
        if "allOf" not in schema:
            return schema
        parts = [resolve(part) for part in schema["allOf"]]
        if not all("properties" in part for part in parts):
            return schema
        properties, required = {}, []
        closed = schema.get("additionalProperties") is False
        for part in parts:
            for name, sub in part["properties"].items():
                properties[name] = {"allOf": [properties[name], sub]} if name in properties else sub
            required += [name for name in part.get("required", []) if name not in required]
            closed = closed or part.get("additionalProperties") is False
        merged = {key: value for key, value in schema.items() if key not in ("allOf", "additionalProperties")}
        merged.update(type="object", properties=properties)
        if required:
            merged["required"] = required
        if closed:
            merged["additionalProperties"] = False
        return merged

    for name in list(schemas):
        schemas[name] = flatten(schemas[name])
    return spec


@cache
def document(spec="bosch"):
    loaded = yaml.safe_load(SPECS[spec].read_text(encoding="utf-8"))
    return merged_all_of(loaded) if spec == "hono" else loaded


def _validator(schema, spec):
    registry = Registry().with_resource("spec", Resource(contents=document(spec), specification=DRAFT4))
    return Draft4Validator(schema, registry=registry)


@cache
def validator(schema_name, spec="bosch"):
    """A validator for ``#/components/schemas/<schema_name>``, with the document's local $refs."""
    return _validator({"$ref": f"spec#/components/schemas/{schema_name}"}, spec)


def validate(body, schema_name, spec="bosch"):
    """Raise jsonschema.ValidationError unless ``body`` matches the named schema."""
    validator(schema_name, spec).validate(body)


def _messages(validator_, body):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator_.iter_errors(body)]


def errors(schema_name, body, spec="bosch"):
    return _messages(validator(schema_name, spec), body)


def operation(spec, method, path):
    """The operation of ``spec`` for ``method`` on ``path`` (relative to the document's server,
    e.g. "/devices/t1/org.acme:dev-1"), or AssertionError when the document has none."""
    for template, item in document(spec)["paths"].items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path) and method.lower() in item:
            return item[method.lower()]
    raise AssertionError(f"{spec} has no {method} {path}")


def parameter_names(spec, method, path, where="header"):
    """The names of the ``where`` parameters (header, query) the operation declares."""
    names = set()
    for parameter in operation(spec, method, path).get("parameters", []):
        if "$ref" in parameter:
            parameter = document(spec)["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        if parameter.get("in") == where:
            names.add(parameter["name"].lower())
    return names


def request_errors(spec, method, path, body):
    """Why ``body`` is not the JSON request body of ``method path`` in ``spec`` ([] if it is)."""
    schema = operation(spec, method, path)["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = {"$ref": "spec" + schema["$ref"]}
    return _messages(_validator(schema, spec), body)
