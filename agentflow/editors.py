"""Editor support: which files are workflow files, and the settings that tell an editor so.

The workflow schema's `$id` is its stable address (SchemaStore's catalog and the YAML
language server refer to it); `FILE_MATCH` are the globs docs/editors.md documents.

    >>> vscode_settings()["yaml.schemas"][schema_id()][0]
    '*.agentflow.yaml'
"""

from __future__ import annotations

from typing import Any

from agentflow.schema.resources import load_schema

# Names that say "agentflow workflow" anywhere (SchemaStore may claim these), then the
# folder the examples and `agentflow init` use (for a workspace's own settings only: the
# name is too common for a global catalog).
SCHEMASTORE_FILE_MATCH = ("*.agentflow.yaml", "*.agentflow.yml")
FILE_MATCH = (*SCHEMASTORE_FILE_MATCH, "workflows/*.yaml", "workflows/*.yml")


def schema_id() -> str:
    """The workflow schema's `$id`."""
    value = load_schema("workflow.schema.json")["$id"]
    assert isinstance(value, str)
    return value


def vscode_settings() -> dict[str, Any]:
    """`.vscode/settings.json` entries for the YAML extension: the schema for workflow files."""
    return {"yaml.schemas": {schema_id(): list(FILE_MATCH)}}


def schemastore_entry() -> dict[str, Any]:
    """The entry of SchemaStore's catalog (src/api/json/catalog.json) for workflow files."""
    schema = load_schema("workflow.schema.json")
    return {
        "name": schema["title"],
        "description": schema["description"],
        "fileMatch": list(SCHEMASTORE_FILE_MATCH),
        "url": schema["$id"],
    }
