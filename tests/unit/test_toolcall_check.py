"""Checker semantics (BFCL AST checker) on hand-built cases, schema loading and validation."""

import json

import pytest

from rlkit.toolcall import (
    MISSING_ARGUMENT,
    MISSING_REQUIRED,
    NO_CALL,
    UNEXPECTED_ARGUMENT,
    VALUE_NOT_ACCEPTABLE,
    WRONG_COUNT,
    WRONG_FUNCTION,
    WRONG_TYPE,
    AnswerFormatError,
    ExpectedCall,
    ToolCall,
    ToolSchemaError,
    check_calls,
    expected_from_answer,
    load_tools,
    standardize_string,
    validate_call,
)

BFCL_TOOLS = [
    {
        "name": "weather.get",
        "description": "d",
        "parameters": {
            "type": "dict",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "scale": {"type": "float"},
                "metric": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "point": {"type": "tuple", "items": {"type": "float"}},
                "options": {"type": "dict", "properties": {"unit": {"type": "string"}, "lang": {"type": "string"}}},
                "stops": {"type": "array", "items": {"type": "dict"}},
                "extra": {"type": "any"},
            },
            "required": ["city"],
        },
    }
]


def verdict(arguments, ground_truth, tools=BFCL_TOOLS, name="weather.get"):
    expected = expected_from_answer([{"weather.get": ground_truth}])
    return check_calls([ToolCall(name, arguments)], expected, tools)


def test_string_normalization_follows_bfcl():
    assert standardize_string("San Francisco, CA") == "sanfranciscoca"
    assert standardize_string("It's") == 'it"s'
    assert verdict({"city": "NEW-YORK."}, {"city": ["New York"]}).ok
    assert verdict({"city": "Boston"}, {"city": ["New York"]}).reason == VALUE_NOT_ACCEPTABLE
    # Tabs and newlines are not among BFCL's stripped characters.
    assert not verdict({"city": "New\tYork"}, {"city": ["New York"]}).ok


def test_numbers_int_for_float_but_never_bool():
    assert verdict({"city": "x", "scale": 2}, {"city": ["x"], "scale": [2.0]}).ok
    assert verdict({"city": "x", "days": 2.0}, {"city": ["x"], "days": [2]}).reason == WRONG_TYPE
    assert verdict({"city": "x", "days": True}, {"city": ["x"], "days": [1]}).reason == WRONG_TYPE
    assert verdict({"city": "x", "metric": 1}, {"city": ["x"], "metric": [True]}).reason == WRONG_TYPE
    assert verdict({"city": "x", "days": 3}, {"city": ["x"], "days": [2]}).reason == VALUE_NOT_ACCEPTABLE


def test_optional_marker_and_missing_arguments():
    truth = {"city": ["x"], "days": [3, ""], "metric": [True]}
    assert verdict({"city": "x", "metric": True}, truth).ok
    assert verdict({"city": "x", "days": 3, "metric": True}, truth).ok
    assert verdict({"city": "x"}, truth).reason == MISSING_ARGUMENT  # schema-optional, answer needs it
    assert verdict({"metric": True}, truth).reason == MISSING_REQUIRED


def test_unexpected_arguments():
    truth = {"city": ["x"]}
    assert verdict({"city": "x", "nope": 1}, truth).reason == UNEXPECTED_ARGUMENT  # not in schema
    assert verdict({"city": "x", "days": 1}, truth).reason == UNEXPECTED_ARGUMENT  # not in answer


def test_arrays_ordered_normalized_and_element_typed():
    truth = {"city": ["x"], "tags": [["Sunny Day", "wind"]]}
    assert verdict({"city": "x", "tags": ["sunny day", "WIND"]}, truth).ok
    assert verdict({"city": "x", "tags": ["wind", "sunny day"]}, truth).reason == VALUE_NOT_ACCEPTABLE
    assert verdict({"city": "x", "tags": ["wind", 3]}, truth).reason == WRONG_TYPE
    assert verdict({"city": "x", "point": [1.5, 2]}, {"city": ["x"], "point": [[1.5, 2.0]]}).reason == WRONG_TYPE
    assert verdict({"city": "x", "point": [1.5, 2.0]}, {"city": ["x"], "point": [[1.5, 2.0]]}).ok


def test_any_type_uses_bfcl_variable_rule():
    # BFCL maps "any" to str; answers of another type make values of that type a "variable".
    assert verdict({"city": "x", "extra": 5}, {"city": ["x"], "extra": [5]}).ok
    assert verdict({"city": "x", "extra": 6}, {"city": ["x"], "extra": [5]}).reason == VALUE_NOT_ACCEPTABLE
    assert verdict({"city": "x", "extra": [5]}, {"city": ["x"], "extra": [5]}).reason == WRONG_TYPE


def test_dict_arguments_list_acceptable_values_per_key():
    truth = {"city": ["x"], "options": [{"unit": ["celsius", "C"], "lang": ["en", ""]}]}
    assert verdict({"city": "x", "options": {"unit": "C"}}, truth).ok
    assert verdict({"city": "x", "options": {"unit": "Celsius", "lang": "EN"}}, truth).ok
    assert verdict({"city": "x", "options": {"unit": "kelvin"}}, truth).reason == VALUE_NOT_ACCEPTABLE
    assert verdict({"city": "x", "options": {"lang": "en"}}, truth).reason == VALUE_NOT_ACCEPTABLE  # unit missing
    assert verdict({"city": "x", "options": {"unit": "C", "x": 1}}, truth).reason == VALUE_NOT_ACCEPTABLE
    assert verdict({"city": "x", "options": "C"}, truth).reason == WRONG_TYPE


def test_lists_of_dicts():
    truth = {"city": ["x"], "stops": [[{"at": ["Paris"]}, {"at": ["Rome"], "nights": [2, ""]}]]}
    assert verdict({"city": "x", "stops": [{"at": "paris"}, {"at": "Rome", "nights": 2}]}, truth).ok
    assert verdict({"city": "x", "stops": [{"at": "Rome"}, {"at": "Paris"}]}, truth).reason == VALUE_NOT_ACCEPTABLE
    assert verdict({"city": "x", "stops": [{"at": "Paris"}]}, truth).reason == VALUE_NOT_ACCEPTABLE


def test_function_names_and_unknown_functions():
    assert verdict({"city": "x"}, {"city": ["x"]}, name="weather.set").reason == WRONG_FUNCTION
    expected = [ExpectedCall("ghost", {"a": [1]})]
    assert check_calls([ToolCall("ghost", {"a": 1})], expected, BFCL_TOOLS).reason == WRONG_FUNCTION
    assert check_calls([ToolCall("ghost", {"a": 1})], expected, None).ok  # no schema: names only


PARALLEL = [{"weather.get": {"city": ["Paris"]}}, {"weather.get": {"city": ["Rome"]}}]


def test_parallel_calls_match_in_any_order_and_counts_matter():
    expected = expected_from_answer(PARALLEL)
    paris, rome = ToolCall("weather.get", {"city": "Paris"}), ToolCall("weather.get", {"city": "Rome"})
    assert check_calls([rome, paris], expected, BFCL_TOOLS).ok
    assert check_calls([paris], expected, BFCL_TOOLS).reason == WRONG_COUNT
    assert check_calls([], expected, BFCL_TOOLS).reason == NO_CALL
    assert check_calls([paris, paris], expected, BFCL_TOOLS).reason == VALUE_NOT_ACCEPTABLE
    assert check_calls([paris, ToolCall("other", {})], expected, BFCL_TOOLS).reason == WRONG_FUNCTION
    assert check_calls([], [], BFCL_TOOLS).ok


def test_greedy_bfcl_pairing_versus_best_pairing():
    # The first expected call accepts both cities, so BFCL's greedy pairing takes "Rome" for it
    # when Rome comes first and leaves nothing for the second expected call.
    expected = expected_from_answer([{"weather.get": {"city": ["Paris", "Rome"]}}, {"weather.get": {"city": ["Rome"]}}])
    rome_first = [ToolCall("weather.get", {"city": "Rome"}), ToolCall("weather.get", {"city": "Paris"})]
    assert check_calls(rome_first[::-1], expected, BFCL_TOOLS).ok
    assert not check_calls(rome_first, expected, BFCL_TOOLS).ok
    assert check_calls(rome_first, expected, BFCL_TOOLS, matching="best").ok
    with pytest.raises(ValueError, match="matching"):
        check_calls(rome_first, expected, BFCL_TOOLS, matching="hungarian")


def test_reason_points_at_the_perturbed_call():
    expected = expected_from_answer(PARALLEL)
    calls = [ToolCall("weather.get", {"city": "Paris"}), ToolCall("weather.get", {"city": "Rome", "days": 1})]
    result = check_calls(calls, expected, BFCL_TOOLS)
    assert result.reason == UNEXPECTED_ARGUMENT and "'days'" in result.detail


def test_expected_from_answer_forms():
    reference = expected_from_answer('{"name": "transfer_money", "parameters": {"amount": 50, "to": {"iban": "X1"}}}')
    assert reference == [ExpectedCall("transfer_money", {"amount": [50], "to": [{"iban": ["X1"]}]})]
    assert expected_from_answer('[{"name": "f", "arguments": "{\\"a\\": 1}"}]') == [ExpectedCall("f", {"a": [1]})]
    assert expected_from_answer([{"f": {"a": [1, 2], "b": [""]}}]) == [ExpectedCall("f", {"a": [1, 2], "b": [""]})]
    assert expected_from_answer("[]") == []
    for bad in ['{"f": {"a": 1}}', "[1]", "{not json", '{"a": 1, "b": 2}']:
        with pytest.raises(AnswerFormatError):
            expected_from_answer(bad)


def test_reference_form_without_tools_is_exact_after_normalization():
    expected = expected_from_answer({"name": "transfer_money", "arguments": {"amount": 50, "to": {"iban": "X1"}, "note": "Rent"}})
    good = ToolCall("transfer_money", {"amount": 50.0, "to": {"iban": "x1"}, "note": "rent"})
    assert check_calls([good], expected).ok
    assert check_calls([ToolCall("transfer_money", {"amount": 50, "to": {"iban": "X2"}, "note": "Rent"})], expected).reason == VALUE_NOT_ACCEPTABLE
    assert check_calls([ToolCall("transfer_money", {"amount": "50", "to": {"iban": "X1"}, "note": "Rent"})], expected).reason == WRONG_TYPE
    assert check_calls([ToolCall("transfer_money", {"amount": 50, "to": {"iban": "X1"}})], expected).reason == MISSING_ARGUMENT


OPENAI_TOOL = {
    "type": "function",
    "function": {
        "name": "set_light",
        "description": "d",
        "parameters": {
            "type": "object",
            "properties": {
                "room": {"type": "string", "enum": ["kitchen", "hall"]},
                "level": {"type": "number"},
                "on": {"type": "boolean"},
                "scenes": {"type": "array", "items": {"type": "integer"}},
                "note": {"type": ["string", "null"]},
            },
            "required": ["room"],
        },
    },
}


def test_load_tools_accepts_all_styles_and_caches_json():
    bare = OPENAI_TOOL["function"]
    for tools in ([OPENAI_TOOL], [bare], json.dumps([OPENAI_TOOL]), json.dumps(bare), OPENAI_TOOL):
        assert list(load_tools(tools)) == ["set_light"]
    text = json.dumps(BFCL_TOOLS)
    assert load_tools(text) is load_tools(text)
    assert load_tools(text)["weather.get"]["parameters"]["required"] == ["city"]
    for bad in ["{oops", "[1]", '[{"description": "no name"}]', '[{"name": "f", "parameters": []}]']:
        with pytest.raises(ToolSchemaError):
            load_tools(bad)


def test_validate_call_schema_only():
    tools = [OPENAI_TOOL]
    assert validate_call(ToolCall("set_light", {"room": "kitchen", "level": 3, "on": True, "scenes": [1], "note": None}), tools).ok
    cases = {
        WRONG_FUNCTION: ToolCall("set_lamp", {"room": "kitchen"}),
        MISSING_REQUIRED: ToolCall("set_light", {"level": 1.5}),
        UNEXPECTED_ARGUMENT: ToolCall("set_light", {"room": "kitchen", "colour": "red"}),
        VALUE_NOT_ACCEPTABLE: ToolCall("set_light", {"room": "garage"}),
    }
    for reason, call in cases.items():
        assert validate_call(call, tools).reason == reason, call
    for arguments in ({"room": 1}, {"room": "hall", "on": "yes"}, {"room": "hall", "level": True}, {"room": "hall", "scenes": [1, "2"]}):
        assert validate_call(ToolCall("set_light", arguments), tools).reason == WRONG_TYPE, arguments
    assert validate_call(ToolCall("weather.get", {"city": "x", "extra": [1]}), BFCL_TOOLS).ok  # "any" is any value here
