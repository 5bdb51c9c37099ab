"""Check an HTTP answer against the Hono and Ditto OpenAPI documents (copies in tests/specs).

    HONO.check(response, "PUT", "/credentials/{tenantId}/{deviceId}")
    DITTO.check(response, "PUT", "/api/2/things/{thingId}")

``check`` finds the operation, insists the status is one it documents (or, with
``fault=True``, a transient status no operation documents: 402, 429, 500, 503, whose body
must then be the API's error schema), validates a JSON body against the documented schema,
insists on an empty body where none is documented, and on the ``ETag`` and ``Location``
headers a success (or 304) documents. It also refuses any write-only property (``pwd-plain``,
``cert``) anywhere in an answer.

Two readings of OpenAPI 3.0 that plain JSON Schema does not share, applied to a copy of
the document before validating:

- ``allOf`` beside ``additionalProperties: false`` means "no property beyond those of the
  parts" (Hono's PasswordCredentials, DeviceWithId, ...): the parts' property names are
  listed on the parent, and the parts lose their own ``additionalProperties: false``;
- ``oneOf`` beside ``additionalProperties: false`` and no properties (Hono's
  TypedCredentials) leaves the check to the alternatives.
"""

import copy
import json
from functools import cached_property
from pathlib import Path

import yaml
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPECS = Path(__file__).resolve().parent / "specs"
FAULT_STATUSES = {402, 429, 500, 503}


def _follow(document, ref):
    node = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _deref(document, node):
    while isinstance(node, dict) and "$ref" in node:
        node = _follow(document, node["$ref"])
    return node


def _property_names(document, schema):
    schema = _deref(document, schema)
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= _property_names(document, part)
    return names


def _open_part(document, part):
    """An allOf part as an inline copy without additionalProperties: false."""
    inline = copy.deepcopy(_deref(document, part))
    if inline.get("additionalProperties") is False:
        del inline["additionalProperties"]
    if "allOf" in inline:
        inline["allOf"] = [_open_part(document, sub) for sub in inline["allOf"]]
    return inline


def _adapt(document, node):
    if isinstance(node, list):
        return [_adapt(document, item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _adapt(document, value) for key, value in node.items()}
    if node.get("additionalProperties") is False and "allOf" in node:
        names = _property_names(document, node)
        node["properties"] = {**{name: {} for name in names}, **node.get("properties", {})}
        node["allOf"] = [_open_part(document, part) for part in node["allOf"]]
    if node.get("additionalProperties") is False and "oneOf" in node and not node.get("properties"):
        del node["additionalProperties"]
    return node


def _write_only(node, found):
    if isinstance(node, dict):
        for name, schema in (node.get("properties") or {}).items():
            if isinstance(schema, dict) and schema.get("writeOnly"):
                found.add(name)
        for value in node.values():
            _write_only(value, found)
    elif isinstance(node, list):
        for item in node:
            _write_only(item, found)
    return found


def _keys(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


class Document:
    def __init__(self, filename, error_schema):
        self.filename = filename
        self.error_schema = error_schema

    @cached_property
    def spec(self):
        raw = yaml.load((SPECS / self.filename).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        raw["components"]["schemas"] = _adapt(raw, raw["components"]["schemas"])
        return raw

    @cached_property
    def registry(self):
        return Registry().with_resource("spec", Resource(contents=self.spec, specification=DRAFT4))

    @cached_property
    def write_only(self):
        return _write_only(self.spec["components"]["schemas"], set())

    def validator(self, schema):
        """A Draft 4 validator for a schema of the document (its $refs resolve in it)."""
        return Draft4Validator(_rebase(schema), registry=self.registry)

    def schema_errors(self, body, schema_name):
        schema = {"$ref": f"#/components/schemas/{schema_name}"}
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in self.validator(schema).iter_errors(body)
        ]

    def responses(self, method, template):
        paths = self.spec["paths"]
        assert template in paths, f"{template} is not a path of {self.filename}"
        operation = paths[template].get(method.lower())
        assert operation is not None, f"{method} {template} is not an operation of {self.filename}"
        return {int(status): response for status, response in operation["responses"].items()}

    def check(self, response, method, template, *, fault=False):
        """Raise AssertionError unless ``response`` is an answer the document allows."""
        status = response.status_code
        documented = self.responses(method, template)
        where = f"{method} {template} -> {status}"
        if status not in documented:
            assert fault and status in FAULT_STATUSES, f"{where} is not documented: {response.text[:300]}"
            self._validate(response, {"$ref": f"#/components/schemas/{self.error_schema}"}, where)
            return
        answer = _deref(self.spec, documented[status])
        content = answer.get("content") or {}
        if "application/json" in content:
            self._validate(response, content["application/json"].get("schema", {}), where)
        elif not content:
            assert response.content == b"", f"{where} documents no body, got {response.text[:200]!r}"
        # A 412 documents the current ETag too, but a resource that does not exist has none.
        for header in ("ETag", "Location") if status < 400 else ():
            if header in (answer.get("headers") or {}):
                assert response.headers.get(header), f"{where} lacks its {header} header"

    def _validate(self, response, schema, where):
        assert response.headers.get("Content-Type", "").startswith("application/json"), (
            f"{where}: Content-Type {response.headers.get('Content-Type')!r}"
        )
        body = json.loads(response.content)
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in self.validator(schema).iter_errors(body)
        ]
        assert not errors, f"{where}: {errors} in {body}"
        leaked = self.write_only & set(_keys(body))
        assert not leaked, f"{where}: write-only {sorted(leaked)} in the answer"


def _rebase(schema):
    """Point the local refs of ``schema`` at the registered document."""
    if isinstance(schema, dict):
        return {
            key: (f"spec{value}" if key == "$ref" and value.startswith("#") else _rebase(value))
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_rebase(item) for item in schema]
    return schema


HONO = Document("hono-device-registry-v1.yaml", "Error")
DITTO = Document("ditto-api-2.yml", "AdvancedError")
