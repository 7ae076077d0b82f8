"""Faithful judging of an operation step's `expect` (CASES_FORMAT.md section 4.3).

`judge(expect, result)` returns the first failure message, or None when the step passes.
Keys are checked in the official order, with every leniency of section 4.6 kept; the stricter
rules live in `strict.py` and only produce warnings.
"""

import math

from .jsvalues import UNDEFINED, get_property, is_number, join, strict_equal, to_string
from .errors import TestException


class JudgeTypeError(TestException):
    """Where the official runner would hit a JS TypeError while judging."""


def succeeded(result):
    return result.get("success") is True


def is_success_of(result, result_type):
    """A "successful X result": `type` = X and `success` = true."""
    return result.get("type") == result_type and succeeded(result)


def is_error(result):
    """An error result: `type` = "error" and not a success."""
    return result.get("type") == "error" and not succeeded(result)


def chunk_list(result):
    chunks = result.get("chunks")
    if not isinstance(chunks, list):
        raise JudgeTypeError("TypeError: read result has no `chunks` array")
    return chunks


def chunk_data(chunk):
    return get_property(chunk, "data") if isinstance(chunk, dict) else UNDEFINED


def concatenated_data(result):
    """All `chunks[].data` joined with no separator, as `Array.prototype.join('')` does."""
    return join([chunk_data(chunk) for chunk in chunk_list(result)])


def show(value):
    """A short JS-ish rendering of a value for messages."""
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, str):
        return repr(value) if len(value) <= 200 else repr(value[:200]) + "..."
    return to_string(value) if not isinstance(value, (dict, list)) else repr(value)[:200]


def message_of(result):
    message = result.get("message")
    if not isinstance(message, str):
        raise JudgeTypeError("TypeError: error result has no string `message`")
    return message


def to_number(value):
    """JS `Number(value)` for the comparison in `minChunks`."""
    if isinstance(value, bool):
        return int(value)
    if is_number(value):
        return value
    if value is None:
        return 0
    if isinstance(value, str):
        try:
            return float(value.strip() or "0")
        except ValueError:
            return math.nan
    return math.nan


def expect_equal(label, expected, actual):
    if strict_equal(actual, expected):
        return None
    return f"expected {label} {show(expected)}, got {show(actual)}"


def check_status(expected, result):
    if "status" not in result:
        return None
    return expect_equal("status", expected, result["status"])


def check_error_code(expected, result):
    if succeeded(result):
        return f"expected error {show(expected)}, but the operation succeeded"
    if is_error(result):
        return expect_equal("errorCode", expected, result.get("errorCode", UNDEFINED))
    return None


def check_message_contains(expected, result):
    if succeeded(result):
        return f"expected an error whose message contains {show(expected)}, but it succeeded"
    if not is_error(result):
        return None
    if not isinstance(expected, list) or not all(isinstance(i, str) for i in expected):
        raise JudgeTypeError("TypeError: messageContains must be a list of strings")
    message = message_of(result)
    for item in expected:
        if item.lower() not in message.lower():
            return f"expected error message to contain {show(item)}, got {show(message)}"
    return None


def check_data(expected, result):
    return expect_equal("data", expected, concatenated_data(result))


def check_data_contains(expected, result):
    data = concatenated_data(result)
    if to_string(expected) in data:
        return None
    return f"expected data to contain {show(expected)}, got {show(data)}"


def check_data_contains_all(expected, result):
    if not isinstance(expected, list):
        raise JudgeTypeError("TypeError: dataContainsAll must be a list")
    data = concatenated_data(result)
    for item in expected:
        if to_string(item) not in data:
            return f"expected data to contain {show(item)}, got {show(data)}"
    return None


def check_data_exact(expected, result):
    if not isinstance(expected, list):
        raise JudgeTypeError("TypeError: dataExact must be a list")
    chunks = chunk_list(result)
    actual = [chunk_data(chunk) for chunk in chunks]
    if len(actual) == len(expected) and all(map(strict_equal, actual, expected)):
        return None
    return f"expected chunk data {show(expected)}, got {show(actual)}"


def check_field(key):
    return lambda expected, result: expect_equal(key, expected, result.get(key, UNDEFINED))


def check_chunk_count(expected, result):
    return expect_equal("chunkCount", expected, len(chunk_list(result)))


def check_min_chunks(expected, result):
    count = len(chunk_list(result))
    if count < to_number(expected):
        return f"expected at least {show(expected)} chunks, got {count}"
    return None


def check_has_offset(expected, result):
    offset = result.get("offset", UNDEFINED)
    has = offset is not UNDEFINED and offset != ""
    return expect_equal("hasOffset", expected, has)


def check_sent_map(key):
    def check(expected, result):
        if not isinstance(expected, dict):
            raise JudgeTypeError(f"TypeError: {key} must be a mapping")
        if not (is_success_of(result, "append") or is_success_of(result, "read")):
            return f"expected {key} on a successful append or read result, got {describe(result)}"
        actual = result.get(key)
        if not isinstance(actual, dict):
            return f"expected {key} {show(expected)}, but the result has no {key} object"
        for name, value in expected.items():
            failure = expect_equal(f"{key}[{name!r}]", value, actual.get(name, UNDEFINED))
            if failure:
                return failure
        return None

    return check


def check_valid(expected, result):
    if expected is True and not succeeded(result):
        return f"expected valid input (success), got {describe(result)}"
    if expected is False and succeeded(result):
        return "expected the input to be rejected, but it was accepted"
    return None


def check_error_contains(expected, result):
    if not is_error(result):
        return None
    message = message_of(result)
    if to_string(expected) in message:
        return None
    return (f"expected error message to contain {show(expected)} (case-sensitive), "
            f"got {show(message)}")


def describe(result):
    """One phrase for a result: `a successful read result`, `error NOT_FOUND: ...`."""
    if is_error(result):
        return f"error {result.get('errorCode')} ({show(result.get('message', UNDEFINED))})"
    state = "successful" if succeeded(result) else "failed"
    return f"a {state} {result.get('type')!s} result"


ALWAYS = None
READ, HEAD, CLOSE, APPEND = "read", "head", "close", "append"

# (expect key, result class it applies to or ALWAYS, check), in the official order.
CHECKS = [
    ("status", ALWAYS, check_status),
    ("errorCode", ALWAYS, check_error_code),
    ("messageContains", ALWAYS, check_message_contains),
    ("data", READ, check_data),
    ("dataContains", READ, check_data_contains),
    ("dataContainsAll", READ, check_data_contains_all),
    ("dataExact", READ, check_data_exact),
    ("upToDate", READ, check_field("upToDate")),
    ("streamClosed", READ, check_field("streamClosed")),
    ("streamClosed", HEAD, check_field("streamClosed")),
    ("finalOffset", CLOSE, check_field("finalOffset")),
    ("chunkCount", READ, check_chunk_count),
    ("minChunks", READ, check_min_chunks),
    ("contentType", HEAD, check_field("contentType")),
    ("hasOffset", HEAD, check_has_offset),
    ("headersSent", ALWAYS, check_sent_map("headersSent")),
    ("paramsSent", ALWAYS, check_sent_map("paramsSent")),
    ("duplicate", APPEND, check_field("duplicate")),
    ("producerEpoch", APPEND, check_field("producerEpoch")),
    ("producerSeq", APPEND, check_field("producerSeq")),
    ("producerExpectedSeq", APPEND, check_field("producerExpectedSeq")),
    ("producerReceivedSeq", APPEND, check_field("producerReceivedSeq")),
    ("valid", ALWAYS, check_valid),
    ("errorContains", ALWAYS, check_error_contains),
]


def judge(expect, result):
    """The first failing expectation's message, or None. May raise JudgeTypeError."""
    for key, result_class, check in CHECKS:
        expected = expect.get(key)
        if expected is None:
            continue
        if result_class is not ALWAYS and not is_success_of(result, result_class):
            continue
        failure = check(expected, result)
        if failure:
            return failure
    return None


def is_judged(expect):
    """Whether a step has an `expect` mapping to evaluate (a null `expect:` has none)."""
    return isinstance(expect, dict)
