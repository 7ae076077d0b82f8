"""The per-test variable store and `${...}` substitution (CASES_FORMAT.md section 2)."""

import re
import uuid

from .errors import CaseTypeError, UndefinedVariable
from .jsvalues import UNDEFINED, get_property, is_nullish, to_string

_REFERENCE = re.compile(r"\$\{([^}]+)\}")


class Variables:
    """Name -> value. Values are strings, whole result objects (storeAs) or UNDEFINED."""

    def __init__(self):
        self.values = {}

    def set(self, name, value):
        self.values[name] = value

    def get(self, name):
        return self.values.get(name, UNDEFINED)

    def substitute(self, text):
        """Replace every `${expr}` left to right in one pass; inserted text is not rescanned."""
        if not isinstance(text, str):
            raise CaseTypeError(f"TypeError: expected a string to substitute, got {text!r}")
        return _REFERENCE.sub(lambda match: self._resolve(match.group(1)), text)

    def _resolve(self, expr):
        if expr == "randomUUID":
            return str(uuid.uuid4())
        name, *path = expr.split(".")
        value = self.values.get(name, UNDEFINED)
        if value is UNDEFINED:
            raise UndefinedVariable(f"Undefined variable: {name} (in ${{{expr}}})")
        for segment in path:
            if is_nullish(value):
                break
            value = get_property(value, segment)
        return "" if is_nullish(value) else to_string(value)
