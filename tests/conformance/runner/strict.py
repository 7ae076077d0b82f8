"""Strict-mode findings (CASES_FORMAT.md section 4.6): reported as warnings, never failures.

Each function returns a list of warning texts for one executed step. The faithful verdict is
decided by `judge.py` alone.
"""

from .jsvalues import is_number, strict_equal
from .judge import describe, is_error, is_success_of, succeeded

READ_KEYS = ["data", "dataContains", "dataContainsAll", "dataExact", "upToDate",
             "streamClosed", "chunkCount", "minChunks"]
HEAD_KEYS = ["contentType", "hasOffset", "streamClosed"]


class Outcome:
    """What a step produced: the result for `expect`, and facts only strict mode looks at."""

    def __init__(self, result=None, origin="adapter", item_results=None, http_status=None,
                 note=None):
        self.result = result            # dict, or None for steps without a result
        self.note = note                # a verbose-log remark for steps without a result
        self.origin = origin            # "adapter" or "runner" (built by the runner)
        self.item_results = item_results  # append-batch: each expanded append's result
        self.http_status = http_status  # server-close: the HTTP status, hidden from `expect`


def step_warnings(section, step, outcome):
    """All strict findings for one step of `section` ("setup", "operations", "cleanup")."""
    result = outcome.result
    if result is None or section == "cleanup":
        return []
    warnings = server_close_status(outcome)
    if section == "setup":
        return warnings + setup_error(result)
    expect = step.get("expect")
    if not isinstance(expect, dict):
        return warnings + unjudged_error(result)
    checks = [status_class, skipped_content, non_error_failure, ignored_keys,
              idempotent_final_offset]
    return warnings + [w for check in checks for w in check(expect, outcome)]


def setup_error(result):
    """L1: setup results are never judged, even error results."""
    if is_error(result):
        return [f"L1: setup step returned {describe(result)}"]
    return []


def unjudged_error(result):
    """L2: an operation without `expect` is never judged."""
    if is_error(result):
        return [f"L2: operation without `expect` returned {describe(result)}"]
    return []


def status_class(expect, outcome):
    """L3: an expected 2xx needs a success, an expected 4xx/5xx an error (adapter results)."""
    status, result = expect.get("status"), outcome.result
    if outcome.origin != "adapter" or not is_number(status) or isinstance(status, bool):
        return []
    if 200 <= status < 300 and not succeeded(result):
        return [f"L3: expected status {status}, got {describe(result)}"]
    if status >= 400 and not is_error(result):
        return [f"L3: expected status {status} (an error), got {describe(result)}"]
    return []


def skipped_content(expect, outcome):
    """L4/L5: read and head content keys are silently skipped on an error result."""
    if not is_error(outcome.result):
        return []
    keys = [k for k in dict.fromkeys(READ_KEYS + HEAD_KEYS + ["finalOffset"]) if k in expect]
    if not keys:
        return []
    return [f"L4: {', '.join(keys)} not checked because the result is "
            f"{describe(outcome.result)}"]


def non_error_failure(expect, outcome):
    """L6: errorCode/messageContains pass on a failure whose type is not `error`."""
    result = outcome.result
    if succeeded(result) or is_error(result):
        return []
    keys = [k for k in ("errorCode", "messageContains") if k in expect]
    if not keys:
        return []
    return [f"L6: {', '.join(keys)} not checked: the failure result has type "
            f"{result.get('type')!r}, not 'error'"]


def ignored_keys(expect, outcome):
    """L7: keys the official runner ignores, given their evident meaning."""
    result, warnings = outcome.result, []
    if expect.get("error") is True and succeeded(result):
        warnings.append("L7: `error: true` expected a failure, but the operation succeeded")
    if isinstance(expect.get("success"), bool) and succeeded(result) != expect["success"]:
        warnings.append(f"L7: `success: {str(expect['success']).lower()}` expected, "
                        f"got {describe(result)}")
    if expect.get("allSucceed") is True and not succeeded(result):
        warnings.append(f"L7: `allSucceed: true` expected, got {describe(result)}")
    warnings += batch_indices(expect, outcome.item_results)
    return warnings


def batch_indices(expect, item_results):
    """L7: `succeedIndices` / `failIndices` of an expanded append-batch."""
    if item_results is None:
        return []
    warnings = []
    for key, want in (("succeedIndices", True), ("failIndices", False)):
        for index in expect.get(key) or []:
            if not isinstance(index, int) or not 0 <= index < len(item_results):
                warnings.append(f"L7: {key} names item {index!r}, which does not exist")
            elif succeeded(item_results[index]) != want:
                state = "succeed" if want else "fail"
                warnings.append(f"L7: batch item {index} should {state}, got "
                                f"{describe(item_results[index])}")
    return warnings


def server_close_status(outcome):
    """L8: server-close counts as success whatever the HTTP status."""
    status = outcome.http_status
    if status is None or 200 <= status < 300:
        return []
    return [f"L8: server-close got HTTP {status}"]


def idempotent_final_offset(expect, outcome):
    """L9: `finalOffset` is never checked on idempotent-close."""
    result = outcome.result
    if "finalOffset" not in expect or not is_success_of(result, "idempotent-close"):
        return []
    if strict_equal(result.get("finalOffset"), expect["finalOffset"]):
        return []
    return [f"L9: expected finalOffset {expect['finalOffset']!r}, "
            f"got {result.get('finalOffset')!r}"]
