"""Tool schemas in OpenAI, bare and BFCL style, normalized to `{name: function_schema}`.

Accepted per tool: `{"type": "function", "function": {name, description, parameters}}`, the bare
`{name, description, parameters}`, and BFCL's variant with `parameters.type == "dict"` and Python
type names (`integer`, `float`, `dict`, `tuple`, `any`). The normalized schema is the bare form;
`parameters` always has `properties` (dict) and `required` (list).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

# Schema type name -> Python type, as BFCL's checker maps them ("any" really maps to str there,
# and it rescues other types only through its "variable" rule) plus the JSON-Schema spellings.
PYTHON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "number": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "object": dict,
    "any": str,
}
FLOAT_TYPE_NAMES = frozenset({"float", "number"})
SEQUENCE_TYPE_NAMES = frozenset({"array", "tuple"})


class ToolSchemaError(ValueError):
    """A tools value that is not a list of function schemas; the message names the tool."""


def load_tools(tools: str | list | dict | None) -> dict[str, dict]:
    """`{function name: bare schema}` from a JSON string or a list of schemas (cached for strings).

    The result for a string is shared between calls: treat it as read-only.
    """
    if tools is None:
        return {}
    if isinstance(tools, str):
        return _load_tools_json(tools)
    if isinstance(tools, dict):
        # Either one schema, or the {name: schema} mapping this function returns.
        tools = [tools] if "name" in tools or "function" in tools else list(tools.values())
    return _normalize_tools(tools)


@lru_cache(maxsize=4096)
def _load_tools_json(tools_json: str) -> dict[str, dict]:
    try:
        data = json.loads(tools_json) if tools_json.strip() else []
    except ValueError as error:
        raise ToolSchemaError(f"tools is not valid JSON: {error}") from None
    if isinstance(data, dict):
        data = [data]
    return _normalize_tools(data)


def _normalize_tools(tools: list) -> dict[str, dict]:
    if not isinstance(tools, (list, tuple)):
        raise ToolSchemaError(f"tools must be a list of schemas, got {type(tools).__name__}")
    by_name: dict[str, dict] = {}
    for index, tool in enumerate(tools):
        schema = normalize_tool(tool, index)
        by_name[schema["name"]] = schema
    return by_name


def normalize_tool(tool: Any, index: int = 0) -> dict:
    """One tool schema in any accepted style -> `{name, description, parameters{type, properties, required}}`."""
    if isinstance(tool, str):
        try:
            tool = json.loads(tool)
        except ValueError:
            raise ToolSchemaError(f"tool #{index} is a string that is not JSON") from None
    if not isinstance(tool, dict):
        raise ToolSchemaError(f"tool #{index} must be an object, got {type(tool).__name__}")
    function = tool.get("function") if isinstance(tool.get("function"), dict) else tool
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise ToolSchemaError(f"tool #{index} has no function name")
    parameters = function.get("parameters")
    parameters = {} if parameters is None else parameters
    if not isinstance(parameters, dict):
        raise ToolSchemaError(f"tool {name!r}: parameters must be an object")
    properties = parameters.get("properties") or {}
    required = parameters.get("required") or []
    if not isinstance(properties, dict) or not isinstance(required, list):
        raise ToolSchemaError(f"tool {name!r}: properties must be an object and required a list")
    return {
        "name": name,
        "description": function.get("description", ""),
        "parameters": {"type": parameters.get("type", "object"), "properties": properties, "required": required},
    }


def type_name_of(property_schema: dict | None) -> str | None:
    """The single declared type name of a property (None when absent, unknown or ambiguous).

    `["string", "null"]` counts as "string": null is accepted separately by `allows_null`.
    """
    if not isinstance(property_schema, dict):
        return None
    declared = property_schema.get("type")
    if isinstance(declared, list):
        non_null = [name for name in declared if name != "null"]
        declared = non_null[0] if len(non_null) == 1 else None
    return declared if declared in PYTHON_TYPES else None


def allows_null(property_schema: dict | None) -> bool:
    """True when the property's declared type list includes "null" (or its type is "null")."""
    if not isinstance(property_schema, dict):
        return False
    declared = property_schema.get("type")
    return declared == "null" or (isinstance(declared, list) and "null" in declared)


def item_type_name(property_schema: dict | None) -> str | None:
    """Declared element type name of an array/tuple property, if any."""
    if not isinstance(property_schema, dict) or type_name_of(property_schema) not in SEQUENCE_TYPE_NAMES:
        return None
    return type_name_of(property_schema.get("items"))
