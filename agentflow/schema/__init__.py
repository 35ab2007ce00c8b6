"""JSON Schema: the workflow schema, and checking values against schemas (owns jsonschema)."""
