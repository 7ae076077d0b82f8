"""JavaScript value semantics the official (Node) runner relies on.

The official runner is TypeScript, so its verdicts depend on JS rules: `===`, truthiness,
`String(x)`, `Array.prototype.join`, `parseInt` and `JSON.stringify`. These helpers reproduce
them on the Python values that `json` and the YAML loader produce.
"""

import json
import math
import re


class _Undefined:
    """JS `undefined`: a missing property, distinct from JSON `null` (Python None)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "undefined"

    def __bool__(self):
        return False


UNDEFINED = _Undefined()


def is_nullish(value):
    """`value == null` in JS: null or undefined."""
    return value is None or value is UNDEFINED


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def truthy(value):
    """JS truthiness."""
    if is_nullish(value) or value is False:
        return False
    if is_number(value):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def strict_equal(a, b):
    """JS `a === b`. Objects and arrays are never equal (distinct identities)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) and is_number(b):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if is_nullish(a) or is_nullish(b):
        return a is b
    return False


def get_property(value, key):
    """`value[key]` for a string key, as JS would answer on JSON-like values."""
    if isinstance(value, dict):
        return value.get(key, UNDEFINED)
    if isinstance(value, (list, str)):
        if key == "length":
            return len(value)
        if re.fullmatch(r"0|[1-9][0-9]*", key) and int(key) < len(value):
            return value[int(key)]
    return UNDEFINED


def number_to_string(value):
    """ECMAScript Number::toString for an int or float."""
    if isinstance(value, int) and abs(value) < 10**21:
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    digits, exponent = _shortest_digits(abs(value))
    return sign + _format_digits(digits, exponent)


def _shortest_digits(value):
    """Shortest round-trip digits d1..dk and n such that value = 0.d1..dk * 10**n."""
    mantissa, _, exp = repr(value).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    leading_zeros = len(whole + frac) - len((whole + frac).lstrip("0"))
    n = len(whole) + (int(exp) if exp else 0) - leading_zeros
    return digits.rstrip("0"), n


def _format_digits(digits, n):
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    exp_text = ("+" if e >= 0 else "-") + str(abs(e))
    if k == 1:
        return digits + "e" + exp_text
    return digits[0] + "." + digits[1:] + "e" + exp_text


def to_string(value):
    """JS `String(value)` (with undefined/null giving "undefined"/"null")."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return number_to_string(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return join(value, ",")
    return "[object Object]"


def join(items, separator=""):
    """JS `Array.prototype.join`: null and undefined items become empty strings."""
    return separator.join("" if is_nullish(item) else to_string(item) for item in items)


def parse_int(text):
    """JS `parseInt(text, 10)`: the leading decimal integer, or NaN."""
    match = re.match(r"\s*([+-]?[0-9]+)", text)
    return int(match.group(1)) if match else math.nan


def normalize_numbers(value):
    """Turn integral floats into ints (JS writes `2.0` as `2`) and non-finite ones into None."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() else value
    if isinstance(value, list):
        return [normalize_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: normalize_numbers(item) for key, item in value.items()}
    return value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def stringify(value):
    """`JSON.stringify(value)`: compact, non-ASCII kept raw, integral numbers without a fraction."""
    text = json.dumps(normalize_numbers(value), ensure_ascii=False, separators=(",", ":"))
    return _LONE_SURROGATE.sub(lambda m: "\\u%04x" % ord(m.group()), text)


def parse_json(text):
    """`JSON.parse(text)`: rejects NaN/Infinity literals, which Python would accept."""

    def reject(constant):
        raise ValueError("invalid JSON constant " + constant)

    return json.loads(text, parse_constant=reject)
