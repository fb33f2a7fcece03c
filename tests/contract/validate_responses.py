"""Validates recorded HTTP responses against a provider's official OpenAPI 3 or Swagger 2 document.

Usage: validate_responses.py SPEC CASES_JSON
CASES_JSON is a list of {"method", "path" (the spec's path template), "status", "body"}.
Each body is checked against the response schema the spec gives for that status (or `default`), with
OpenAPI 3.0 semantics (nullable, etc.), all $refs resolved. Prints every violation; exits 1 if any.
"""
import json
import sys

import yaml
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4


# Where a provider's live API is known to differ from its own document (see specs/SOURCES.md): the
# emulator follows the live API. Keyed by (path template, field), each with the check the value must pass.
LIVE_API_DEVIATIONS = {
    # MTN MoMo sends a FAILED payment's `reason` as a bare code string; its Swagger shows an object.
    ("/v1_0/requesttopay/{referenceId}", "reason"): lambda value: isinstance(value, str) and value.isupper(),
}


def tolerated(case, error) -> bool:
    path = list(error.absolute_path)
    if len(path) != 1:
        return False
    check = LIVE_API_DEVIATIONS.get((case["path"], path[0]))
    return check is not None and check(case["body"].get(path[0]))


def main() -> int:
    spec_path, cases_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as f:
        spec = yaml.safe_load(f)
    with open(cases_path) as f:
        cases = json.load(f)
    registry = Registry().with_resource("spec", Resource.from_contents(spec, default_specification=DRAFT4))
    failures = 0
    for case in cases:
        where = f'{case["method"].upper()} {case["path"]} -> {case["status"]}'
        operation = spec["paths"].get(case["path"], {}).get(case["method"].lower())
        if operation is None:
            print(f"{where}: the spec has no such operation")
            failures += 1
            continue
        responses = operation["responses"]
        response = responses.get(str(case["status"])) or responses.get("default")
        if response is None:
            print(f"{where}: the spec documents no such status")
            failures += 1
            continue
        if "$ref" in response:
            response = spec["components"]["responses"][response["$ref"].split("/")[-1]]
        if spec.get("swagger") == "2.0":
            schema = response.get("schema")
        else:
            schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            continue
        validator = OAS30Validator({"$ref": "spec#" + schema["$ref"][1:]} if "$ref" in schema else schema, registry=registry)
        errors = sorted(validator.iter_errors(case["body"]), key=lambda e: list(e.absolute_path))
        for error in [e for e in errors if tolerated(case, e)]:
            print(f"{where}: {error.absolute_path[0]}: tolerated live-API deviation ({error.message})")
        errors = [e for e in errors if not tolerated(case, e)]
        for error in errors:
            path = "/".join(str(p) for p in error.absolute_path)
            print(f"{where}: {path or '(body)'}: {error.message}")
        failures += len(errors)
        if not errors:
            print(f"{where}: ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
