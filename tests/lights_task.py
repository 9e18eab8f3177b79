"""One hand-written tool-calling task (a light switch) shared by the jury and pair-builder tests."""

import json

TOOLS = json.dumps([{"type": "function", "function": {"name": "set_lights", "parameters": {
    "type": "object", "properties": {"room": {"type": "string", "enum": ["kitchen", "bedroom"]},
                                     "state": {"type": "string", "enum": ["on", "off"]}},
    "required": ["room", "state"]}}}])
ANSWER = json.dumps([{"name": "set_lights", "arguments": {"room": "kitchen", "state": "on"}}])
RIGHT = '<|tool_call_start|>[set_lights(room="kitchen", state="on")]<|tool_call_end|>'
WRONG = '<|tool_call_start|>[set_lights(room="bedroom", state="on")]<|tool_call_end|>'
