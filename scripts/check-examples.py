#!/usr/bin/env python3
"""The examples in the services' OpenAPI documents are checked against their schemas
(JSON Schema 2020-12, as OpenAPI 3.1 has it, $refs resolved in the document), every
document carries an example on every JSON request body and every JSON 2xx answer, and
every parameter of every document says what it is. Run by
scripts/check-deploy.
"""
import glob
import sys

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

COMPLETE = {"MeetRooms", "IdentityAssociations", "UserIdentity", "OIDCVault"}
failures = 0


def pointer(parts):
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class StrictLoader(yaml.SafeLoader):
    """Refuses a key given twice in one mapping, as Swagger UI's and openapi-python-client's
    parsers do (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        for key in set(k for k in keys if keys.count(k) > 1):
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", node.start_mark)
        return super().construct_mapping(node, deep)


for path in sorted(glob.glob("Services/*/Sources/*/openapi.yaml")):
    service = path.split("/")[1]
    try:
        doc = yaml.load(open(path), Loader=StrictLoader)
    except yaml.YAMLError as error:
        print(f"  FAIL  {path}: {error}")
        failures += 1
        continue
    registry = Registry().with_resource("urn:doc", Resource.from_contents(doc, default_specification=DRAFT202012))
    checked, missing, wrong = 0, [], []

    def media_types(node, parts):
        """Every media type object: (its path, the object, request or status)."""
        if isinstance(node, dict):
            if "content" in node and isinstance(node["content"], dict):
                for media, value in node["content"].items():
                    if isinstance(value, dict) and "schema" in value:
                        yield parts + ["content", media], value, media
            for key, value in node.items():
                yield from media_types(value, parts + [key])

    for parts, media_object, media in media_types(doc, []):
        examples = []
        if "example" in media_object:
            examples.append(("example", media_object["example"]))
        for name, example in (media_object.get("examples") or {}).items():
            if isinstance(example, dict) and "value" in example:
                examples.append((name, example["value"]))
        validator = Draft202012Validator({"$ref": "urn:doc#" + pointer(parts + ["schema"])}, registry=registry)
        for name, value in examples:
            checked += 1
            errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
            if errors:
                wrong.append(f"{pointer(parts)} {name}: {errors[0].message} at {list(errors[0].path)}")
        operation_part = parts[:3] if parts and parts[0] == "paths" else None
        needs = operation_part and media.endswith("json") and (
            parts[3] == "requestBody" or (parts[3] == "responses" and str(parts[4]).startswith("2")))
        if service in COMPLETE and needs and not examples:
            missing.append(pointer(parts))
    for route, item in doc["paths"].items():
        for method, op in item.items():
            parameters = op if method == "parameters" else (op.get("parameters") or []) if isinstance(op, dict) else []
            for parameter in parameters:
                if isinstance(parameter, dict) and "$ref" not in parameter and not parameter.get("description"):
                    missing.append(f"a description of {parameter.get('name')} ({parameter.get('in')}) in {method.upper()} {route}")
    ok = not wrong and not missing
    failures += 0 if ok else 1
    print(f"  {'ok   ' if ok else 'FAIL '} {path}: {checked} examples valid against their schemas"
          + ("" if service not in COMPLETE else ", one on every JSON request and 2xx answer") + "; every parameter described")
    for line in wrong[:10] + [f"missing: {m}" for m in missing[:20]]:
        print(f"        {line}")
sys.exit(1 if failures else 0)
