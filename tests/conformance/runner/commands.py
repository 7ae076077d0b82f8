"""Turning YAML steps into adapter commands (CASES_FORMAT.md sections 1.6, 2.3 and 3.1).

Every builder returns the command as a dict whose keys are in the official runner's order.
Absent YAML keys are omitted; `false`, `0`, `""` and `null` are kept.
"""

import uuid

from .errors import CaseTypeError
from .jsvalues import stringify, truthy

ADAPTER_ACTIONS = {
    "create", "connect", "append", "append-batch", "idempotent-append",
    "idempotent-append-batch", "idempotent-close", "idempotent-detach", "read", "head",
    "delete", "close", "set-dynamic-header", "set-dynamic-param", "clear-dynamic", "validate",
}

# Top-level string fields that are substituted, per action (section 2.3). Used for load checks.
SUBSTITUTED_FIELDS = {
    "create": ["path"], "connect": ["path"], "head": ["path"], "delete": ["path"],
    "close": ["path"], "server-close": ["path"], "inject-error": ["path"],
    "idempotent-detach": ["path"], "append": ["path", "data"], "append-batch": ["path"],
    "idempotent-append": ["path", "data"], "idempotent-append-batch": ["path"],
    "idempotent-close": ["path", "data"], "read": ["path", "offset"],
    "server-append": ["path", "data"], "set": ["value"],
}


def substitute_optional(step, key, variables):
    """An optional substituted field: falsy means absent (None); a truthy non-string fails."""
    value = step.get(key)
    if not truthy(value):
        return None
    return variables.substitute(value)


def copy_fields(command, step, keys):
    """Forward `keys` verbatim when present in the step."""
    for key in keys:
        if key in step:
            command[key] = step[key]
    return command


def with_default(step, key, default):
    value = step.get(key)
    return default if value is None else value


def generated_path():
    return f"/test-stream-{uuid.uuid4()}"


def create_path(step, variables):
    """The path a `create` uses: the substituted `path`, or a generated one."""
    path = substitute_optional(step, "path", variables)
    return generated_path() if path is None else path


def build_create(step, path):
    command = {"type": "create", "path": path}
    return copy_fields(
        command, step, ["contentType", "ttlSeconds", "expiresAt", "headers", "closed", "data"]
    )


def build_path_only(action, step, variables, extra=("headers",)):
    """connect, head, delete: `{type, path, headers}`."""
    command = {"type": action, "path": variables.substitute(step.get("path"))}
    return copy_fields(command, step, extra)


def append_payload(step, variables):
    """(data, binary) for an `append`, by the first applicable rule of section 3.1."""
    binary_data = step.get("binaryData")
    if binary_data is not None:
        return binary_data, truthy(binary_data)
    if "json" in step:
        return stringify(step["json"]), False
    data = substitute_optional(step, "data", variables)
    return (data if data is not None else ""), False


def build_append(step, variables):
    data, binary = append_payload(step, variables)
    command = {"type": "append", "path": variables.substitute(step.get("path")),
               "data": data, "binary": binary}
    return copy_fields(command, step, ["seq", "headers"])


def build_batch_appends(step, variables):
    """`append-batch` expands into one plain `append` per item, with no substitution."""
    path = variables.substitute(step.get("path"))
    items = step.get("items")
    if not isinstance(items, list):
        raise CaseTypeError("TypeError: append-batch needs an `items` list")
    commands = []
    for item in items:
        item = item if isinstance(item, dict) else {}
        binary_data = item.get("binaryData")
        data = binary_data if binary_data is not None else item.get("data")
        command = {"type": "append", "path": path,
                   "data": "" if data is None else data, "binary": truthy(binary_data)}
        copy_fields(command, item, ["seq"])
        copy_fields(command, step, ["headers"])
        commands.append(command)
    return commands


def producer_fields(command, step):
    copy_fields(command, step, ["producerId"])
    command["epoch"] = with_default(step, "epoch", 0)
    return command


def build_idempotent_append(step, variables):
    command = {"type": "idempotent-append", "path": variables.substitute(step.get("path")),
               "data": variables.substitute(step.get("data"))}
    producer_fields(command, step)
    command["autoClaim"] = with_default(step, "autoClaim", False)
    return copy_fields(command, step, ["headers"])


def build_idempotent_append_batch(step, variables):
    items = step.get("items")
    if not isinstance(items, list):
        raise CaseTypeError("TypeError: idempotent-append-batch needs an `items` list")
    data = [variables.substitute(item.get("data") if isinstance(item, dict) else None)
            for item in items]
    command = {"type": "idempotent-append-batch",
               "path": variables.substitute(step.get("path")), "items": data}
    producer_fields(command, step)
    command["autoClaim"] = with_default(step, "autoClaim", False)
    return copy_fields(command, step, ["maxInFlight", "headers"])


def build_idempotent_close(step, variables):
    command = {"type": "idempotent-close", "path": variables.substitute(step.get("path"))}
    producer_fields(command, step)
    data = substitute_optional(step, "data", variables)
    if data is not None:
        command["data"] = data
    command["autoClaim"] = with_default(step, "autoClaim", False)
    return copy_fields(command, step, ["headers"])


def build_idempotent_detach(step, variables):
    command = {"type": "idempotent-detach", "path": variables.substitute(step.get("path"))}
    producer_fields(command, step)
    return copy_fields(command, step, ["headers"])


def build_read(step, variables):
    command = {"type": "read", "path": variables.substitute(step.get("path"))}
    offset = substitute_optional(step, "offset", variables)
    if offset is not None:
        command["offset"] = offset
    return copy_fields(
        command, step, ["live", "timeoutMs", "maxChunks", "waitForUpToDate", "headers"]
    )


def build_close(step, variables):
    command = {"type": "close", "path": variables.substitute(step.get("path"))}
    return copy_fields(command, step, ["data", "contentType"])


def build_verbatim(action, keys):
    return lambda step, variables: copy_fields({"type": action}, step, keys)


BUILDERS = {
    "connect": lambda step, v: build_path_only("connect", step, v),
    "head": lambda step, v: build_path_only("head", step, v),
    "delete": lambda step, v: build_path_only("delete", step, v),
    "append": build_append,
    "idempotent-append": build_idempotent_append,
    "idempotent-append-batch": build_idempotent_append_batch,
    "idempotent-close": build_idempotent_close,
    "idempotent-detach": build_idempotent_detach,
    "read": build_read,
    "close": build_close,
    "set-dynamic-header": build_verbatim("set-dynamic-header",
                                         ["name", "valueType", "initialValue"]),
    "set-dynamic-param": build_verbatim("set-dynamic-param", ["name", "valueType"]),
    "clear-dynamic": build_verbatim("clear-dynamic", []),
    "validate": build_verbatim("validate", ["target"]),
}


def build_command(step, variables):
    """The command for a single-command adapter step (not create, not append-batch)."""
    return BUILDERS[step["action"]](step, variables)
