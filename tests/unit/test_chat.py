import json
from pathlib import Path

import trl

from rlkit.chat import chat_template, compact_tool, normalize_messages, render_tools, with_tool_list

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lock_door",
            "description": "Lock or unlock a door.",
            "parameters": {
                "type": "object",
                "properties": {
                    "door": {"type": "string", "enum": ["front", "back"]},
                    "state": {"type": "string", "enum": ["lock", "unlock"]},
                },
                "required": ["door"],
            },
        },
    },
    {"name": "math.factorial", "parameters": {"type": "dict", "properties": {"n": {"type": "integer"}}}},
]


def test_template_is_trls_file_unchanged():
    path = Path(trl.__file__).parent / "chat_templates" / "lfm2_v2.jinja"
    assert chat_template() == path.read_text()
    assert "{% generation %}" in chat_template(training=True)


def test_compact_rendering_lists_names_arguments_and_enums():
    assert render_tools(TOOLS) == ["lock_door(door: front|back, state?: lock|unlock)", "math.factorial(n?: integer)"]
    assert compact_tool(TOOLS[1]) == "math.factorial(n?: integer)"


def test_json_rendering_round_trips_the_schema():
    assert [json.loads(s) for s in render_tools(json.dumps(TOOLS), "json")] == TOOLS


def test_tool_list_is_appended_to_the_system_turn_or_becomes_one():
    user = [{"role": "user", "content": "hi"}]
    out = with_tool_list(user, TOOLS[:1])
    assert out[0] == {
        "role": "system",
        "content": "List of tools: <|tool_list_start|>[lock_door(door: front|back, state?: lock|unlock)]<|tool_list_end|>",
    }
    out = with_tool_list([{"role": "system", "content": "Be brief."}] + user, TOOLS[:1])
    assert out[0]["content"].startswith("Be brief.\nList of tools: <|tool_list_start|>[lock_door(")
    assert with_tool_list(user, None) == user


def test_normalize_parses_json_string_arguments_and_fills_content():
    messages = [
        {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": '{"a": 1}'}}]},
        {"role": "user", "content": "x", "tool_calls": None},
    ]
    out = normalize_messages(messages)
    assert out[0] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}],
    }
    assert out[1] == {"role": "user", "content": "x"}
