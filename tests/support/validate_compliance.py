"""Validates a compliance report against schemas/compliance-report.schema.json:
the JSON document, and each CSV table row by row (numbers and booleans
coerced from their text). Usage: validate_compliance.py SCHEMA JSON CSVDIR.
Prints what it checked; exits 1 naming the first violation."""
import csv, json, sys
from pathlib import Path

import jsonschema

schema_path, json_path, csv_dir = sys.argv[1:4]
schema = json.loads(Path(schema_path).read_text())
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
cls(schema).validate(json.loads(Path(json_path).read_text()))
checked = 1

def coerce(v):
    if v in ("true", "false"):
        return v == "true"
    for kind in (int, float):
        try:
            return kind(v)
        except ValueError:
            pass
    return v

TEXT = {"source", "owner", "department", "folder", "subject", "message_id", "detail", "why", "action", "system", "kinds", "categories", "key", "month", "id", "date", "oldest_stale", "last_scan", "first_seen", "handled_on", "last_status", "status", "problem", "direction", "category"}
for name, ref in schema["x-csv"].items():
    row_schema = {"$ref": f"#/$defs/{ref}", "$defs": schema["$defs"]}
    validator = cls(row_schema)
    path = Path(csv_dir) / name
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        wanted = set(schema["$defs"][ref]["required"])
        if set(reader.fieldnames or []) != wanted:
            sys.exit(f"{name}: columns {reader.fieldnames} are not {sorted(wanted)}")
        for i, row in enumerate(reader, start=2):
            typed = {k: (v if k in TEXT else coerce(v)) for k, v in row.items()}
            try:
                validator.validate(typed)
            except jsonschema.ValidationError as e:
                sys.exit(f"{name} line {i}: {e.message}")
            checked += 1
print(f"valid: {checked} documents and rows")
