"""Checks the OpenAPI document with openapi-spec-validator, then each answer the test
collected against it with jsonschema (Draft 2020-12, the dialect of OpenAPI 3.1): the operation
and its status are documented, the content type is the one documented, a JSON body matches its
schema. Every operation of the document must have been asked at least once.

usage: openapi_check.py SPEC ANSWERS   (ANSWERS: JSON lines of method, path (the template),
status, content_type, body (JSON, a string, or null for a binary body))
"""

import json
import sys

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

spec = json.load(open(sys.argv[1]))
validate(spec)
registry = Registry().with_resource("urn:spec", Resource.from_contents(spec, default_specification=DRAFT202012))


def pointer(*parts):
    return "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


problems = []
asked = set()
for n, line in enumerate(open(sys.argv[2])):
    a = json.loads(line)
    where = f"{a['method'].upper()} {a['path']} -> {a['status']}"
    op = spec["paths"].get(a["path"], {}).get(a["method"])
    if op is None:
        problems.append(f"{where}: no such operation in the document")
        continue
    asked.add((a["path"], a["method"]))
    responses = op["responses"]
    key = str(a["status"])
    if key not in responses:
        key = key[0] + "XX" if key[0] + "XX" in responses else "default"
    response = responses.get(key)
    if response is None:
        problems.append(f"{where}: status not documented (only {sorted(responses)})")
        continue
    ref = ["paths", a["path"], a["method"], "responses", key]
    if "$ref" in response:
        name = response["$ref"].split("/")[-1]
        response = spec["components"]["responses"][name]
        ref = ["components", "responses", name]
    ctype = (a["content_type"] or "").split(";")[0].strip()
    content = response.get("content", {})
    if ctype not in content:
        problems.append(f"{where}: content type {ctype!r} not documented ({sorted(content)})")
        continue
    if a["body"] is None:
        continue  # binary
    schema = {"$ref": "urn:spec#/" + pointer(*ref, "content", ctype, "schema")}
    errors = list(Draft202012Validator(schema, registry=registry).iter_errors(a["body"]))
    for e in errors:
        problems.append(f"{where}: {e.json_path}: {e.message}")

for path, item in spec["paths"].items():
    for method in item:
        if (path, method) not in asked:
            problems.append(f"{method.upper()} {path}: documented but never asked by the test")

for p in problems:
    print(p)
print(f"{n + 1} answers checked against {sys.argv[1]}: {len(problems)} problems")
sys.exit(1 if problems else 0)
