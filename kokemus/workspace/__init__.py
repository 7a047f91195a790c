"""The workspace as code: load YAML with line-numbered errors, export, JSON Schema."""

from kokemus.workspace.document import WorkspaceFileError, dump, json_schema, load, loads

__all__ = ["WorkspaceFileError", "dump", "json_schema", "load", "loads"]
