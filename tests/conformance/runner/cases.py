"""Loading the YAML case files and classifying tests (CASES_FORMAT.md sections 1 and 5.1)."""

import os
from dataclasses import dataclass, field
from pathlib import Path

from .commands import ADAPTER_ACTIONS, SUBSTITUTED_FIELDS
from .errors import CaseFileError
from .jsvalues import to_string, truthy
from .yamlload import YAMLError, load_yaml

# YAML feature spelling -> `init.features` key. Any other name is never present.
FEATURE_KEYS = {
    "sse": "sse", "long-poll": "longPoll", "longPoll": "longPoll", "auto": "auto",
    "batching": "batching", "streaming": "streaming",
    "dynamicHeaders": "dynamicHeaders", "dynamic-headers": "dynamicHeaders",
    "retryOptions": "retryOptions", "retry-options": "retryOptions",
    "batchItems": "batchItems", "batch-items": "batchItems",
    "strictZeroValidation": "strictZeroValidation",
    "strict-zero-validation": "strictZeroValidation",
}
# `read.live` value -> the feature it needs (for the L11 check).
LIVE_FEATURES = {"sse": "sse", "long-poll": "longPoll"}
SECTIONS = ("setup", "operations", "cleanup")
ASSERT_OPERANDS = {"equals": ("left", "right"), "notEquals": ("left", "right"),
                   "contains": ("value", "substring"), "matches": ("value",)}


@dataclass
class Suite:
    path: Path
    id: str
    name: str
    requires: list
    tests: list = field(default_factory=list)


@dataclass
class Test:
    suite: Suite
    id: str
    name: str
    data: dict
    requires: list
    load_warnings: list

    @property
    def full_id(self):
        return f"{self.suite.id}/{self.id}"

    def steps(self):
        """(section, index, step) for every step, in order."""
        for section in SECTIONS:
            steps = self.data.get(section)
            for index, step in enumerate(steps if isinstance(steps, list) else []):
                yield section, index, step


def discover(directory):
    """Every `.yaml`/`.yml` file, depth-first, entries in byte-wise name order."""
    entries = sorted(os.scandir(directory), key=lambda entry: os.fsencode(entry.name))
    files = []
    for entry in entries:
        if entry.is_dir():
            files.extend(discover(entry.path))
        elif entry.is_file() and entry.name.endswith((".yaml", ".yml")):
            files.append(Path(entry.path))
    return files


def load_suites(directory):
    """All suites under `directory`, in run order. Raises CaseFileError on a broken file."""
    if not Path(directory).is_dir():
        raise CaseFileError(f"cases directory not found: {directory}")
    return [load_suite(path) for path in discover(directory)]


def load_suite(path):
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as error:
        raise CaseFileError(f"{path}: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        raise CaseFileError(f"{path}: not a suite (a mapping with a `tests` list)")
    suite = Suite(path, to_string(data.get("id", path.stem)), to_string(data.get("name", "")),
                  feature_list(path, data.get("requires")))
    for test_data in data["tests"]:
        if not isinstance(test_data, dict):
            raise CaseFileError(f"{path}: a test is not a mapping: {test_data!r}")
        requires = feature_list(path, test_data.get("requires"))
        test = Test(suite, to_string(test_data.get("id", "")),
                    to_string(test_data.get("name", "")), test_data, requires, [])
        check_background_reads(test)
        test.load_warnings = load_warnings(test)
        suite.tests.append(test)
    return suite


def feature_list(path, value):
    if value is None:
        return []
    if not isinstance(value, list):
        raise CaseFileError(f"{path}: `requires` must be a list, got {value!r}")
    return value


def check_background_reads(test):
    """Refuse an adapter step while a background read is outstanding (section 5.6)."""
    outstanding = []
    for section, index, step in test.steps():
        action = step.get("action") if isinstance(step, dict) else None
        if action in ADAPTER_ACTIONS and outstanding:
            raise CaseFileError(
                f"{test.full_id}: {section}[{index}] {action} is sent while background read "
                f"{outstanding[0]!r} is outstanding; the single answer slot would mix them up"
            )
        if action == "read" and truthy(step.get("background")) and truthy(step.get("as")):
            outstanding.append(step["as"])
        elif action == "await" and step.get("ref") in outstanding:
            outstanding.remove(step.get("ref"))


def load_warnings(test):
    """Strict findings visible in the file itself: unknown features, non-string fields."""
    names = test.suite.requires + test.requires
    warnings = [f"L12: unknown feature name {to_string(name)!r}; the test can never run"
                for name in names if name not in FEATURE_KEYS]
    for section, index, step in test.steps():
        if not isinstance(step, dict):
            continue
        for key, value in substituted_values(step):
            if not isinstance(value, str):
                warnings.append(f"{section}[{index}] {step.get('action')}: `{key}` should be "
                                f"a string, got {value!r}")
    return warnings


def substituted_values(step):
    """(key, value) of every present field that the runner substitutes (section 2.3)."""
    action = step.get("action")
    for key in SUBSTITUTED_FIELDS.get(action, []):
        if key in step:
            yield key, step[key]
    if action == "idempotent-append-batch" and isinstance(step.get("items"), list):
        for number, item in enumerate(step["items"]):
            if isinstance(item, dict) and "data" in item:
                yield f"items[{number}].data", item["data"]
    if action == "assert":
        for check, operands in ASSERT_OPERANDS.items():
            if isinstance(step.get(check), dict):
                for operand in operands:
                    if operand in step[check]:
                        yield f"{check}.{operand}", step[check][operand]


def has_feature(name, features):
    key = FEATURE_KEYS.get(name) if isinstance(name, str) else None
    return key is not None and isinstance(features, dict) and truthy(features.get(key))


def missing_features(names, features):
    return [to_string(name) for name in names if not has_feature(name, features)]


def skip_reason(test, features):
    """Why the test is skipped, or None. The official `skip:` flag is deliberately ignored."""
    for names in (test.suite.requires, test.requires):
        missing = missing_features(names, features)
        if missing:
            return "missing features: " + ", ".join(missing)
    return None


def official_skip_note(test):
    """A note for tests the official runner skips (`skip:`), which this runner runs anyway."""
    skip = test.data.get("skip")
    if not truthy(skip):
        return None
    reason = f": {skip}" if isinstance(skip, str) else ""
    return f"the official runner skips this test{reason}"


def live_mismatch_warnings(test, features):
    """L11: live reads in a test that does not declare the feature the adapter lacks."""
    declared = {FEATURE_KEYS.get(name) for name in test.suite.requires + test.requires
                if isinstance(name, str)}
    warnings = []
    for section, index, step in test.steps():
        if not isinstance(step, dict) or step.get("action") != "read":
            continue
        live = step.get("live")
        name = "auto" if live is True else LIVE_FEATURES.get(live)
        if name and FEATURE_KEYS[name] not in declared and not has_feature(name, features):
            warnings.append(f"L11: {section}[{index}] reads with live: {to_string(live)} "
                            f"without `requires: [{name}]`, and the adapter lacks {name}")
    return warnings
