"""The runner's own HTTP steps (CASES_FORMAT.md section 3.2), with the stdlib `http.client`.

Requests mimic the official runner's `fetch` calls: the URL is `serverUrl + path`, header
objects are merged case-insensitively (same-name values joined with ", "), and only a network
exception is a runner-level error, except for `inject-error`, which also fails on non-2xx.
"""

import http.client
from urllib.parse import quote, urlsplit

from .errors import StepError
from .jsvalues import parse_int, stringify, to_string
from .strict import Outcome

HTTP_TIMEOUT_S = 300  # undici's default headers/body timeout; the runner sets none itself
INJECT_FIELDS = ["status", "retryAfter", "delayMs", "jitterMs", "dropConnection",
                 "truncateBodyBytes", "corruptBody", "probability", "method", "injectSseEvent"]
PRODUCER_HEADERS = [("producerId", "Producer-Id"), ("producerEpoch", "Producer-Epoch"),
                    ("producerSeq", "Producer-Seq")]
RESULT_PRODUCER_HEADERS = [("producerEpoch", "Producer-Epoch"), ("producerSeq", "Producer-Seq"),
                           ("producerExpectedSeq", "Producer-Expected-Seq"),
                           ("producerReceivedSeq", "Producer-Received-Seq")]


def merge_headers(headers):
    """A `{name: value}` object as fetch's Headers sees it: case-insensitive, joined values."""
    merged = {}
    for name, value in headers.items():
        key = name.lower()
        if key in merged:
            merged[key] = (merged[key][0], merged[key][1] + ", " + to_string(value))
        else:
            merged[key] = (name, to_string(value))
    return dict(merged.values())


def request(method, url, headers=None, body=None):
    """One HTTP exchange: (status, response headers, body bytes). Network errors: StepError."""
    parts = urlsplit(url)
    target = quote(parts.path or "/", safe="/%!$&'()*+,;=:@~")
    if parts.query:
        target += "?" + parts.query
    connection_class = (http.client.HTTPSConnection if parts.scheme == "https"
                        else http.client.HTTPConnection)
    connection = connection_class(parts.hostname, parts.port, timeout=HTTP_TIMEOUT_S)
    try:
        connection.request(method, target, body=body, headers=merge_headers(headers or {}))
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise StepError(f"fetch failed: {method} {url}: {error or type(error).__name__}") from error
    finally:
        connection.close()


def header(headers, name):
    """A response header's value (repeated headers joined with ", "), or None."""
    values = headers.get_all(name)
    return ", ".join(values) if values else None


def server_append(step, variables, server_url):
    """HEAD for the content type, then POST the data; the result is always a success."""
    path = variables.substitute(step.get("path"))
    data = variables.substitute(step.get("data"))
    url = server_url + path
    _, head_headers, _ = request("HEAD", url)
    headers = {"content-type": header(head_headers, "content-type") or "application/octet-stream"}
    headers.update(step.get("headers") or {})
    for field, name in PRODUCER_HEADERS:
        if step.get(field) is not None:
            headers[name] = to_string(step[field])
    status, response_headers, _ = request("POST", url, headers, data.encode("utf-8"))
    return Outcome(append_result(status, response_headers), origin="runner")


def append_result(status, headers):
    result = {"type": "append", "success": True, "status": status}
    offset = header(headers, "Stream-Next-Offset")
    if offset is not None:
        result["offset"] = offset
    result["duplicate"] = status == 204
    for field, name in RESULT_PRODUCER_HEADERS:
        value = header(headers, name)
        if value:
            result[field] = parse_int(value)
    return result


def server_close(step, variables, server_url):
    """POST with `Stream-Closed: true`; success whatever the status (kept for strict mode)."""
    path = variables.substitute(step.get("path"))
    headers = {"Stream-Closed": "true"}
    headers.update(step.get("headers") or {})
    body = None
    if step.get("data") is not None:
        body = to_string(step["data"]).encode("utf-8")
        if step.get("contentType") is not None:
            headers["content-type"] = step["contentType"]
        elif not any(name.lower() == "content-type" for name in headers):
            headers["content-type"] = "text/plain;charset=UTF-8"
    status, response_headers, _ = request("POST", server_url + path, headers, body)
    final_offset = header(response_headers, "Stream-Next-Offset") or ""
    result = {"type": "close", "success": True, "finalOffset": final_offset}
    return Outcome(result, origin="runner", http_status=status)


def inject_error(step, variables, server_url):
    """POST a fault to `/_test/inject-error`; any non-2xx answer fails the test."""
    fault = {"path": variables.substitute(step.get("path"))}
    fault["count"] = 1 if step.get("count") is None else step["count"]
    for field in INJECT_FIELDS:
        if field in step:
            fault[field] = step[field]
    status, _, _ = request("POST", server_url + "/_test/inject-error",
                           {"content-type": "application/json"},
                           stringify(fault).encode("utf-8"))
    if not 200 <= status < 300:
        raise StepError(f"Failed to inject fault: {status}")
    return Outcome()


def clear_errors(step, variables, server_url):
    """DELETE `/_test/inject-error`; the status is ignored."""
    request("DELETE", server_url + "/_test/inject-error")
    return Outcome()


HTTP_STEPS = {
    "server-append": server_append,
    "server-close": server_close,
    "inject-error": inject_error,
    "clear-errors": clear_errors,
}
