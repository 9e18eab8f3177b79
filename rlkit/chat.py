"""The chat format: TRL's LFM2 template and how tool lists are rendered into the system turn.

rlkit uses TRL's `lfm2_v2` template (loaded unchanged from the TRL package, so TRL recognizes it):
it escapes quotes in string arguments, so its tool calls are valid Python, and it has a training
variant with `{% generation %}` markers for assistant-only loss (the LFM2.5 templates have neither).

Tool lists dominate sequence length for small models, so tools are rendered either as JSON schemas
(`"json"`, what real LFM2 checkpoints were trained on) or compactly (`"compact"`: names, argument
names, types and enums). Training, rollouts and eval must use the same style; every entry point
takes it from one config key, `tool_style`.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Literal

import trl

TEMPLATE_NAME = "lfm2_v2"
ToolStyle = Literal["compact", "json"]


@functools.cache
def chat_template(training: bool = False) -> str:
    """The LFM2 chat template text shipped inside TRL (`_training` adds generation markers)."""
    name = f"{TEMPLATE_NAME}_training.jinja" if training else f"{TEMPLATE_NAME}.jinja"
    return (Path(trl.__file__).parent / "chat_templates" / name).read_text()


def _schema_list(tools: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Tool schemas as given (for rendering), from a dataset column value (JSON string) or a list."""
    if tools is None or tools == "":
        return []
    if isinstance(tools, str):
        tools = json.loads(tools)
    if not isinstance(tools, list):
        raise ValueError(f"tools must be a list of schemas, got {type(tools).__name__}")
    return tools


def _function(schema: dict[str, Any]) -> dict[str, Any]:
    return schema.get("function", schema)


def compact_tool(schema: dict[str, Any]) -> str:
    """One tool as a signature: `name(arg: a|b, n?: int)` — `?` marks optional arguments.

    >>> compact_tool({"type": "function", "function": {"name": "set_scene", "parameters": {
    ...     "type": "object", "properties": {"scene": {"type": "string", "enum": ["away", "party"]}},
    ...     "required": ["scene"]}}})
    'set_scene(scene: away|party)'
    """
    function = _function(schema)
    parameters = function.get("parameters") or {}
    required = set(parameters.get("required") or [])
    parts = []
    for name, spec in (parameters.get("properties") or {}).items():
        if "enum" in spec:
            kind = "|".join(str(value) for value in spec["enum"])
        else:
            kind = str(spec.get("type", "any"))
        parts.append(f"{name}{'' if name in required else '?'}: {kind}")
    return f"{function['name']}({', '.join(parts)})"


def render_tools(tools: str | list[dict[str, Any]] | None, style: ToolStyle = "compact") -> list[str]:
    """Tool schemas as the strings placed in the tool list, one per tool."""
    schemas = _schema_list(tools)
    if style == "compact":
        return [compact_tool(schema) for schema in schemas]
    if style == "json":
        return [json.dumps(schema, ensure_ascii=False) for schema in schemas]
    raise ValueError(f"tool_style must be 'compact' or 'json', got {style!r}")


def with_tool_list(
    messages: list[dict[str, Any]], tools: str | list[dict[str, Any]] | None, style: ToolStyle = "compact"
) -> list[dict[str, Any]]:
    """Messages whose system turn carries the tool list exactly as the LFM2 template writes it.

    The list is written into the system message here rather than passed as the template's `tools`
    argument, because transformers only accepts schema dicts there (no compact strings) and
    OpenAI-compatible servers render `tools` with their own rules. One rendering serves HF, vLLM and
    any endpoint alike.
    """
    rendered = render_tools(tools, style)
    messages = normalize_messages(messages)
    if not rendered:
        return messages
    tool_list = "List of tools: <|tool_list_start|>[" + ", ".join(rendered) + "]<|tool_list_end|>"
    if messages and messages[0]["role"] == "system":
        system = messages[0]["content"]
        return [{"role": "system", "content": f"{system}\n{tool_list}" if system else tool_list}] + messages[1:]
    return [{"role": "system", "content": tool_list}] + messages


def render_prompt(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    tools: str | list[dict[str, Any]] | None = None,
    tool_style: ToolStyle = "compact",
    add_generation_prompt: bool = True,
) -> str:
    """The conversation as template text, ending with the assistant header when generating."""
    return tokenizer.apply_chat_template(
        with_tool_list(messages, tools, tool_style),
        add_generation_prompt=add_generation_prompt,
        tokenize=False,
    )


def normalize_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages the template can render: tool-call arguments as dicts, `content` always a string.

    Data from JSON files and the OpenAI API carries arguments as JSON strings, which the template
    refuses; datasets stored through Arrow may carry `None` for absent keys.
    """
    out = []
    for message in messages:
        message = {k: v for k, v in message.items() if v is not None}
        message["content"] = message.get("content") or ""
        calls = message.get("tool_calls")
        if calls:
            fixed = []
            for call in calls:
                function = dict(call.get("function", call))
                arguments = function.get("arguments")
                if isinstance(arguments, str):
                    arguments = json.loads(arguments) if arguments.strip() else {}
                fixed.append({"type": "function", "function": {"name": function["name"], "arguments": arguments or {}}})
            message["tool_calls"] = fixed
        else:
            message.pop("tool_calls", None)
        out.append(message)
    return out
