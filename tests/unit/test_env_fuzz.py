"""Untrusted model calls never crash an env: random names, arguments and value types give tool messages."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlkit.envs.registry import ENVS, make_env
from rlkit.toolcall import ToolCall

TOOL_NAMES = sorted({t["function"]["name"] for env in ENVS.values() for t in env.tools} | {"rm", "__init__", "reset", "state"})
ARG_NAMES = sorted({p for env in ENVS.values() for t in env.tools for p in t["function"]["parameters"]["properties"]} | {"self", "x"})
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True) | st.text(max_size=30)
    | st.sampled_from(["/", "..", "~", "/etc/hosts", "/var/app", "kitchen", "front", "checking", "*.log", "on", "lock"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)
CALLS = st.builds(ToolCall, st.sampled_from(TOOL_NAMES), st.dictionaries(st.sampled_from(ARG_NAMES), VALUES, max_size=4))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env_name=st.sampled_from(sorted(ENVS)), seed=st.integers(0, 5), batches=st.lists(st.lists(CALLS, max_size=3), max_size=4))
def test_any_call_sequence_yields_one_json_message_per_call(env_name, seed, batches):
    env = make_env(env_name, seed)
    for calls in batches:
        responses, done, info = env.step(calls)
        assert len(responses) == len(calls) == info["calls"]
        assert all(isinstance(json.loads(r), dict) for r in responses)
        assert isinstance(done, bool)
    json.dumps(env.state(), allow_nan=False)  # the world stays plain JSON data
