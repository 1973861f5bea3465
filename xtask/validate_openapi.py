#!/usr/bin/env python3
"""Validates the generated OpenAPI documents with an independent tool (openapi-spec-validator).

CI runs this after `cargo xtask openapi --check`, so a document that our own tests accept but the
OpenAPI 3.1 specification does not is still caught. Needs `pip install openapi-spec-validator`.

Usage: python3 xtask/validate_openapi.py [FILE ...]   (default: both documents under docs/)
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_FILES = [ROOT / "docs" / "openapi.json", ROOT / "docs" / "openapi-gpt.json"]


def main(argv):
    try:
        from openapi_spec_validator import validate
        from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
    except ImportError:
        print("error: openapi-spec-validator is not installed; run `pip install openapi-spec-validator`",
              file=sys.stderr)
        return 2

    files = [pathlib.Path(a) for a in argv] or DEFAULT_FILES
    failed = False
    for path in files:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            print(f"FAIL {path}: cannot read JSON: {err}", file=sys.stderr)
            failed = True
            continue
        if document.get("openapi") != "3.1.0":
            print(f"FAIL {path}: openapi is {document.get('openapi')!r}, expected '3.1.0'", file=sys.stderr)
            failed = True
            continue
        try:
            validate(document, base_uri=path.resolve().as_uri())
        except OpenAPIValidationError as err:
            print(f"FAIL {path}: {err}", file=sys.stderr)
            failed = True
            continue
        print(f"ok   {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
