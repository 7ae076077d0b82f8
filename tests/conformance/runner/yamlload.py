"""A PyYAML loader with YAML 1.2 core-schema semantics, as the npm `yaml` package parses.

PyYAML implements YAML 1.1, where `yes`, `on`, `0777`, `1:30` and `2024-01-01` are not strings.
The official runner uses YAML 1.2 (core schema), so this loader resolves plain scalars with the
1.2 core rules only, and rejects duplicate mapping keys as npm `yaml` does by default.
"""

import math
import re
import sys

try:
    import yaml
except ImportError:
    print("error: run-client-cases needs PyYAML; install it with `pip install pyyaml`",
          file=sys.stderr)
    raise SystemExit(2) from None

_RESOLVERS = [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$"),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$",
    ),
]


# The libyaml parser when PyYAML was built with it (much faster); resolution stays in Python.
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CoreLoader(_BASE):
    """A safe loader restricted to the YAML 1.2 core schema."""

    yaml_implicit_resolvers = {}


for _tag, _pattern in _RESOLVERS:
    CoreLoader.add_implicit_resolver(_tag, re.compile(_pattern), None)


def _construct_int(loader, node):
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


def _construct_float(loader, node):
    text = loader.construct_scalar(node)
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return -math.inf if text.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    return float(text)


def _construct_mapping(loader, node):
    loader.flatten_mapping(node)
    mapping = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate mapping key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


CoreLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
CoreLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
CoreLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)

YAMLError = yaml.YAMLError


def load_yaml(text):
    """Parse one YAML document with YAML 1.2 core semantics."""
    return yaml.load(text, Loader=CoreLoader)
