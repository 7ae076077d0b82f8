"""Unit tests for the pure parts of run-client-cases: JS semantics, YAML loading, variable
substitution, command building, judging and strict findings.

Run with: python3 -m pytest tests/conformance -q
"""

import math
import re
from pathlib import Path

import pytest

from runner.adapter import frame, split_lines
from runner.cases import (discover, has_feature, load_suite, load_suites, missing_features,
                          skip_reason)
from runner.commands import (append_payload, build_batch_appends, build_command, build_create,
                             create_path)
from runner.errors import CaseFileError, CaseTypeError, UndefinedVariable
from runner.http_steps import append_result, merge_headers
from runner.jsvalues import (UNDEFINED, number_to_string, parse_int, strict_equal, stringify,
                             to_string, truthy)
from runner.judge import JudgeTypeError, judge
from runner.strict import Outcome, step_warnings
from runner.variables import Variables
from runner.yamlload import load_yaml

CASES = Path(__file__).resolve().parents[2].parent / "shared/conformance/client/cases"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def variables(**values):
    store = Variables()
    for name, value in values.items():
        store.set(name, value)
    return store


def read_result(*data, **fields):
    result = {"type": "read", "success": True, "chunks": [{"data": d} for d in data]}
    result.update(fields)
    return result


def error_result(code="NOT_FOUND", message="Stream not found: /x", **fields):
    result = {"type": "error", "success": False, "commandType": "read", "errorCode": code,
              "message": message}
    result.update(fields)
    return result


# --- JavaScript semantics ------------------------------------------------------------------

def test_strict_equal_follows_js_triple_equals():
    assert strict_equal(200, 200.0)
    assert not strict_equal("200", 200)
    assert not strict_equal(None, 200)
    assert not strict_equal(True, 1)
    assert not strict_equal(None, UNDEFINED)
    assert strict_equal(UNDEFINED, UNDEFINED)
    assert not strict_equal({}, {})
    assert not strict_equal(math.nan, math.nan)


def test_truthiness():
    assert [truthy(v) for v in (0, 0.0, "", False, None, UNDEFINED, math.nan)] == [False] * 7
    assert all(truthy(v) for v in ("0", 1, [], {}, "false", True))


def test_js_string_conversion():
    assert to_string(2.0) == "2"
    assert to_string(1.5) == "1.5"
    assert to_string(1e21) == "1e+21"
    assert to_string(1.5e16) == "15000000000000000"
    assert to_string(0.000001) == "0.000001"
    assert to_string(1e-7) == "1e-7"
    assert to_string(-2.5e-8) == "-2.5e-8"
    assert to_string(True) == "true"
    assert to_string({"a": 1}) == "[object Object]"
    assert to_string([1, None, "x", [2, 3]]) == "1,,x,2,3"
    assert number_to_string(math.inf) == "Infinity"


def test_parse_int_takes_the_leading_integer_like_js():
    assert parse_int("1e3") == 1
    assert parse_int(" -1") == -1
    assert parse_int("42abc") == 42
    assert math.isnan(parse_int("abc"))


def test_stringify_is_compact_with_integral_numbers_and_raw_unicode():
    assert stringify({"key": "v", "n": 2.0, "f": 0.5, "u": "é\u2028"}) == \
        '{"key":"v","n":2,"f":0.5,"u":"é\u2028"}'
    assert stringify([{"item": 1}, {"item": 2}]) == '[{"item":1},{"item":2}]'
    assert stringify(None) == "null"


def test_command_framing_escapes_line_separators_only():
    line = frame({"type": "append", "data": "a\u2028b\u2029c\u0085é"})
    assert line == '{"type":"append","data":"a\\u2028b\\u2029c\u0085é"}\n'


def test_split_lines_splits_on_cr_like_node_readline():
    assert split_lines(b'{"a":1}\r\n') == ['{"a":1}']
    assert split_lines(b"one\rtwo\n") == ["one", "two"]
    assert split_lines(b"\n") == [""]
    assert split_lines(b"last") == ["last"]


# --- YAML ------------------------------------------------------------------------------------

def test_yaml_uses_1_2_core_schema():
    data = load_yaml("a: yes\nb: 0777\nc: 2024-01-01\nd: 2.0\ne: 0x1F\nf: ~\ng: on\n"
                     "h: \"\\u2028\"\ni: 9007199254740991\nj: 1e3\n")
    assert data == {"a": "yes", "b": 777, "c": "2024-01-01", "d": 2.0, "e": 31, "f": None,
                    "g": "on", "h": "\u2028", "i": 9007199254740991, "j": 1000.0}


def test_yaml_rejects_duplicate_keys():
    with pytest.raises(Exception, match="duplicate"):
        load_yaml("a: 1\na: 2\n")


# --- variables ---------------------------------------------------------------------------

def test_substitution_is_single_pass_left_to_right():
    store = variables(a="${b}", b="B")
    assert store.substitute("x${a}y${b}") == "x${b}yB"


def test_empty_and_unterminated_references_stay_literal():
    assert variables().substitute("${} and ${open") == "${} and ${open"


def test_random_uuid_is_fresh_and_wins_over_a_variable():
    store = variables(randomUUID="fixed")
    first, second = store.substitute("${randomUUID}"), store.substitute("${randomUUID}")
    assert re.fullmatch(UUID, first) and re.fullmatch(UUID, second) and first != second


def test_undefined_variable_message():
    message = re.escape("Undefined variable: nope (in ${nope.x})")
    with pytest.raises(UndefinedVariable, match=message):
        variables().substitute("${nope.x}")


def test_variable_stored_as_undefined_counts_as_missing():
    with pytest.raises(UndefinedVariable):
        variables(off=UNDEFINED).substitute("${off}")


def test_property_paths_and_value_conversion():
    head = {"type": "head", "offset": "0_5", "ttl": 60, "missing": None}
    store = variables(headResult=head, nothing=None, items=["a", "b"])
    assert store.substitute("${headResult.offset}") == "0_5"
    assert store.substitute("${headResult.nosuch}") == ""
    assert store.substitute("${headResult.missing.deeper}") == ""
    assert store.substitute("${headResult.ttl}") == "60"
    assert store.substitute("${headResult}") == "[object Object]"
    assert store.substitute("${nothing}") == ""
    assert store.substitute("${items}") == "a,b"
    assert store.substitute("${items.length}") == "2"


def test_substituting_a_non_string_is_a_type_error():
    with pytest.raises(CaseTypeError):
        variables().substitute(5)


# --- commands ------------------------------------------------------------------------------

def test_create_generates_a_path_unless_one_is_given():
    assert re.fullmatch("/test-stream-" + UUID, create_path({"action": "create"}, variables()))
    assert create_path({"path": "${p}"}, variables(p="/s")) == "/s"
    assert re.fullmatch("/test-stream-" + UUID, create_path({"path": ""}, variables()))


def test_create_forwards_fields_verbatim_in_order():
    step = {"action": "create", "as": "s", "data": "${x}", "contentType": "text/plain",
            "closed": False}
    command = build_create(step, "/p")
    assert list(command) == ["type", "path", "contentType", "closed", "data"]
    assert command["data"] == "${x}" and command["closed"] is False


def test_append_payload_rules():
    store = variables(v="V")
    assert append_payload({"binaryData": "AAE="}, store) == ("AAE=", True)
    assert append_payload({"binaryData": "", "data": "x"}, store) == ("", False)
    assert append_payload({"json": {"a": 1}, "data": "x"}, store) == ('{"a":1}', False)
    assert append_payload({"json": None}, store) == ("null", False)
    assert append_payload({"data": "${v}"}, store) == ("V", False)
    assert append_payload({"data": ""}, store) == ("", False)
    assert append_payload({}, store) == ("", False)


def test_append_command_always_carries_binary():
    step = {"action": "append", "path": "${s}", "data": "hi", "seq": 3, "expect": {}}
    assert build_command(step, variables(s="/s")) == \
        {"type": "append", "path": "/s", "data": "hi", "binary": False, "seq": 3}


def test_append_batch_expands_items_without_substitution():
    step = {"action": "append-batch", "path": "${s}", "headers": {"H": "1"},
            "items": [{"data": "${s}"}, {"binaryData": "AA==", "seq": 2}, {}]}
    commands = build_batch_appends(step, variables(s="/s"))
    assert commands == [
        {"type": "append", "path": "/s", "data": "${s}", "binary": False, "headers": {"H": "1"}},
        {"type": "append", "path": "/s", "data": "AA==", "binary": True, "seq": 2,
         "headers": {"H": "1"}},
        {"type": "append", "path": "/s", "data": "", "binary": False, "headers": {"H": "1"}},
    ]


def test_idempotent_defaults():
    store = variables(s="/s")
    command = build_command({"action": "idempotent-append", "path": "${s}", "data": "d",
                             "producerId": "p"}, store)
    assert command == {"type": "idempotent-append", "path": "/s", "data": "d",
                       "producerId": "p", "epoch": 0, "autoClaim": False}
    batch = build_command({"action": "idempotent-append-batch", "path": "/s", "producerId": "p",
                           "items": [{"data": "a"}, {"data": "${s}"}], "epoch": 2}, store)
    assert batch == {"type": "idempotent-append-batch", "path": "/s", "items": ["a", "/s"],
                     "producerId": "p", "epoch": 2, "autoClaim": False}
    close = build_command({"action": "idempotent-close", "path": "/s", "producerId": "p",
                           "data": ""}, store)
    assert close == {"type": "idempotent-close", "path": "/s", "producerId": "p", "epoch": 0,
                     "autoClaim": False}


def test_read_offset_is_substituted_only_when_non_empty():
    store = variables(s="/s", h={"offset": "0_1"})
    read = {"action": "read", "path": "${s}", "live": False, "offset": ""}
    assert build_command(read, store) == {"type": "read", "path": "/s", "live": False}
    read["offset"] = "${h.nosuch}"
    assert build_command(read, store)["offset"] == ""
    read["offset"] = "${h.offset}"
    assert build_command(read, store)["offset"] == "0_1"


def test_close_does_not_forward_headers():
    step = {"action": "close", "path": "/s", "data": "${x}", "headers": {"A": "b"}}
    assert build_command(step, variables()) == {"type": "close", "path": "/s", "data": "${x}"}


def test_validate_forwards_target_verbatim():
    target = {"target": "retry-options", "maxRetries": -1}
    assert build_command({"action": "validate", "target": target}, variables()) == \
        {"type": "validate", "target": target}


# --- judging ---------------------------------------------------------------------------

def test_status_is_checked_only_when_the_result_has_one():
    assert judge({"status": 200}, {"type": "close", "success": True}) is None
    assert judge({"status": 200}, {"type": "append", "success": True, "status": "200"})
    assert judge({"status": 200}, {"type": "append", "success": True, "status": None})
    assert judge({"status": 404}, error_result(status=404)) is None


def test_error_code_rules():
    assert judge({"errorCode": "NOT_FOUND"}, {"type": "read", "success": True})
    assert judge({"errorCode": "NOT_FOUND"}, error_result()) is None
    assert judge({"errorCode": "NOT_FOUND"}, error_result(code="CONFLICT"))
    assert judge({"errorCode": "NOT_FOUND"}, {"type": "read", "success": False}) is None


def test_message_contains_is_case_insensitive_and_error_contains_is_not():
    result = error_result(message="Stream NOT found: /My-Path")
    assert judge({"messageContains": ["not FOUND", "/my-path"]}, result) is None
    assert judge({"messageContains": ["absent"]}, result)
    assert judge({"errorContains": "NOT found"}, result) is None
    assert judge({"errorContains": "not found"}, result)
    assert judge({"errorContains": "anything"}, {"type": "validate", "success": True}) is None


def test_read_content_keys_are_skipped_on_errors():
    expect = {"data": "hello", "upToDate": True, "chunkCount": 3}
    assert judge(expect, error_result()) is None
    assert judge(expect, read_result("hel", "lo", "", upToDate=True)) is None
    assert "data" in judge(expect, read_result("hello!", upToDate=True))


def test_missing_boolean_fields_fail_both_ways():
    assert judge({"upToDate": False}, read_result())
    assert judge({"streamClosed": False}, read_result())
    assert judge({"streamClosed": False}, {"type": "head", "success": True})
    assert judge({"streamClosed": True}, {"type": "head", "success": True,
                                          "streamClosed": True}) is None


def test_data_concatenation_follows_array_join():
    result = {"type": "read", "success": True,
              "chunks": [{"data": "a"}, {"data": None}, {"offset": "1"}, {"data": 5}]}
    assert judge({"data": "a5"}, result) is None
    assert judge({"dataContainsAll": ["a", "5"], "dataContains": "a5"}, result) is None
    assert judge({"dataExact": ["a", None, UNDEFINED, 5]}, result) is None  # chunk by chunk
    assert judge({"dataExact": ["a", "", "", 5]}, result)
    assert judge({"dataExact": ["a5"]}, result)
    assert judge({"minChunks": 4, "chunkCount": 4}, result) is None
    assert judge({"minChunks": 5}, result)


def test_read_without_chunks_is_a_type_error():
    with pytest.raises(JudgeTypeError):
        judge({"data": "x"}, {"type": "read", "success": True})


def test_head_keys():
    head = {"type": "head", "success": True, "contentType": "text/plain; charset=utf-8",
            "offset": None}
    assert judge({"contentType": "text/plain; charset=utf-8", "hasOffset": True}, head) is None
    assert judge({"contentType": "text/plain;charset=utf-8"}, head)
    assert judge({"hasOffset": True}, {"type": "head", "success": True, "offset": ""})


def test_headers_sent_is_not_lenient():
    expect = {"headersSent": {"X-Request-Counter": "1"}}
    ok = {"type": "append", "success": True, "headersSent": {"X-Request-Counter": "1", "B": "2"}}
    assert judge(expect, ok) is None
    assert judge(expect, error_result())
    assert judge(expect, {"type": "append", "success": True})
    sent = {"X-Request-Counter": "1"}
    assert judge(expect, {"type": "head", "success": True, "headersSent": sent})
    assert judge(expect, {"type": "append", "success": True,
                          "headersSent": {"X-Request-Counter": 1}})
    assert judge(expect, {"type": "append", "success": True,
                          "headersSent": {"x-request-counter": "1"}})


def test_producer_keys_apply_to_append_results_only():
    result = append_result(409, _headers({"Producer-Expected-Seq": "3",
                                          "Producer-Received-Seq": "5"}))
    expect = {"status": 409, "producerExpectedSeq": 3, "producerReceivedSeq": 5}
    assert judge(expect, result) is None
    assert judge({"producerExpectedSeq": 4}, result)
    assert judge({"duplicate": True}, {"type": "idempotent-append", "success": True}) is None


def test_valid_key():
    assert judge({"valid": True}, {"type": "validate", "success": True}) is None
    assert judge({"valid": True}, error_result(code="INVALID_ARGUMENT"))
    assert judge({"valid": False}, {"type": "validate", "success": True})
    assert judge({"valid": False}, error_result(code="INVALID_ARGUMENT")) is None


def test_first_failing_key_in_official_order_is_reported():
    failure = judge({"valid": True, "status": 200, "errorCode": "X"}, error_result(status=404))
    assert "status" in failure


def test_ignored_keys_never_fail():
    expect = {"error": True, "success": False, "allSucceed": True, "failIndices": [0],
              "maxChunks": 1, "storeOffsetAs": "x"}
    assert judge(expect, read_result("x")) is None


# --- strict findings -------------------------------------------------------------------

def test_strict_findings_are_reported_per_rule():
    assert step_warnings("setup", {}, Outcome(error_result()))[0].startswith("L1")
    assert step_warnings("operations", {}, Outcome(error_result()))[0].startswith("L2")
    assert step_warnings("cleanup", {}, Outcome(error_result())) == []
    l3 = step_warnings("operations", {"expect": {"status": 200}},
                       Outcome({"type": "close", "success": False}))
    assert l3 and l3[0].startswith("L3")
    runner_built = Outcome({"type": "append", "success": True, "status": 409}, origin="runner")
    assert step_warnings("operations", {"expect": {"status": 409}}, runner_built) == []
    l4 = step_warnings("operations", {"expect": {"data": "x", "status": 400}},
                       Outcome(error_result(status=400)))
    assert [w[:2] for w in l4] == ["L4"]
    l7 = step_warnings("operations", {"expect": {"error": True}}, Outcome(read_result()))
    assert l7[0].startswith("L7")
    assert step_warnings("operations", {}, Outcome({"type": "close", "success": True},
                                                   origin="runner", http_status=404))


def test_batch_indices_are_checked_against_item_results():
    ok = {"type": "append", "success": True}
    items = [ok, error_result(), ok]
    outcome = Outcome({"type": "append", "success": False, "status": 207}, origin="runner",
                      item_results=items)
    expect = {"succeedIndices": [0, 2], "failIndices": [1]}
    assert step_warnings("operations", {"expect": expect}, outcome) == []
    expect = {"succeedIndices": [1], "failIndices": [5]}
    assert len(step_warnings("operations", {"expect": expect}, outcome)) == 2


# --- HTTP helpers ------------------------------------------------------------------------

def _headers(values):
    import email.message
    message = email.message.Message()
    for name, value in values.items():
        message[name] = value
    return message


def test_headers_merge_case_insensitively_like_fetch():
    merged = merge_headers({"content-type": "text/plain", "Content-Type": "x/y",
                            "Producer-Epoch": 1})
    assert merged == {"content-type": "text/plain, x/y", "Producer-Epoch": "1"}


def test_server_append_result_is_always_a_success():
    result = append_result(204, _headers({"Stream-Next-Offset": "0_5", "Producer-Epoch": "1e3",
                                          "Producer-Seq": ""}))
    assert result == {"type": "append", "success": True, "status": 204, "offset": "0_5",
                      "duplicate": True, "producerEpoch": 1}


# --- case files ------------------------------------------------------------------------

def test_discovery_order_is_bytewise_and_depth_first():
    names = [str(p.relative_to(CASES)) for p in discover(CASES)]
    assert names.index("consumer/read-sse-base64.yaml") < names.index("consumer/read-sse.yaml")
    errors = names.index("producer/error-handling.yaml")
    assert names[errors + 1].startswith("producer/idempotent/")
    assert names.index("producer/idempotent/sequence-validation.yaml") + 1 == \
        names.index("producer/idempotent-json-batching.yaml")


def test_all_official_cases_load():
    suites = load_suites(CASES)
    assert len(suites) == 35
    assert sum(len(suite.tests) for suite in suites) == 269


def test_feature_gating():
    assert has_feature("long-poll", {"longPoll": True})
    assert not has_feature("long-poll", {"long-poll": True})
    assert not has_feature("json", {"json": True})
    assert not has_feature("sse", None)
    assert missing_features(["sse", "dynamic-headers"], {"sse": 1}) == ["dynamic-headers"]


def write_suite(tmp_path, body):
    path = tmp_path / "suite.yaml"
    path.write_text("id: s\nname: S\ntests:\n" + body)
    return path


def test_skip_flag_is_ignored_but_requires_gate(tmp_path):
    suite = load_suite(write_suite(tmp_path, (
        "  - id: t\n    skip: broken\n    requires: [sse]\n    operations: []\n")))
    test = suite.tests[0]
    assert skip_reason(test, {"sse": True}) is None
    assert skip_reason(test, {}) == "missing features: sse"


def test_adapter_step_during_background_read_is_refused(tmp_path):
    path = write_suite(tmp_path, (
        "  - id: t\n    operations:\n"
        "      - {action: read, path: /x, background: true, as: r}\n"
        "      - {action: head, path: /x}\n"
        "      - {action: await, ref: r}\n"))
    with pytest.raises(CaseFileError, match="background"):
        load_suite(path)


def test_load_warnings_flag_non_string_substituted_fields(tmp_path):
    suite = load_suite(write_suite(tmp_path, (
        "  - id: t\n    requires: [nosuch]\n    operations:\n"
        "      - {action: append, path: /x, data: 5}\n")))
    warnings = suite.tests[0].load_warnings
    assert any("nosuch" in w for w in warnings)
    assert any("`data` should be a string" in w for w in warnings)


def test_official_skip_is_noted_and_undeclared_live_reads_are_flagged(tmp_path):
    from runner.cases import live_mismatch_warnings, official_skip_note
    suite = load_suite(write_suite(tmp_path, (
        "  - id: t\n    skip: Swift implementation broken\n    operations:\n"
        "      - {action: read, path: /x, live: long-poll}\n"
        "      - {action: read, path: /x, live: sse}\n")))
    test = suite.tests[0]
    assert official_skip_note(test) == \
        "the official runner skips this test: Swift implementation broken"
    warnings = live_mismatch_warnings(test, {"sse": True})
    assert len(warnings) == 1 and "long-poll" in warnings[0]
