"""Running one test: its steps, variable stores, judging and verdict (CASES_FORMAT.md 3 and 5.2).
"""

import re
import sys
import time
import traceback
from dataclasses import dataclass, field

from .adapter import AdapterExited, CommandTimeout
from .cases import live_mismatch_warnings, official_skip_note, skip_reason
from .commands import BUILDERS, build_batch_appends, build_command, build_create, create_path
from .errors import CaseTypeError, StepError, TestException
from .http_steps import HTTP_STEPS
from .jsvalues import UNDEFINED, is_number, to_string, truthy
from .judge import (concatenated_data, describe, is_judged, is_success_of, judge, show,
                    succeeded)
from .strict import Outcome, step_warnings
from .variables import Variables


class ExpectationFailed(TestException):
    pass


@dataclass
class TestResult:
    test: object
    verdict: str                     # "pass", "fail" or "skip"
    reason: str = None               # failure or skip reason
    where: str = None                # the failing step, e.g. "operations[2] read /x"
    result: dict = None              # the failing step's result, if any
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    duration_ms: int = 0


class Context:
    """What every test shares: the adapter, the server URL, options and the feature map."""

    def __init__(self, adapter, server_url, timeout_ms, features, log):
        self.adapter = adapter
        self.server_url = server_url
        self.timeout_ms = timeout_ms
        self.features = features
        self.log = log  # callable(text) for --verbose step lines, or None


def run_or_skip(test, context):
    """Classify the test (section 5.1), then run it unless a feature is missing."""
    reason = skip_reason(test, context.features)
    if reason:
        return TestResult(test, "skip", reason=reason, warnings=list(test.load_warnings))
    result = TestRun(test, context).run()
    note = official_skip_note(test)
    if note:
        result.notes.append(note)
    return result


class TestRun:
    """One execution of one test."""

    def __init__(self, test, context):
        self.test = test
        self.context = context
        self.adapter = context.adapter
        self.variables = Variables()
        self.handles = {}
        self.section = None
        self.where = None
        self.last_result = None
        self.warnings = list(test.load_warnings)
        self.warnings += live_mismatch_warnings(test, context.features)

    def run(self):
        started = time.monotonic()
        failure, adapter_broken = None, False
        try:
            self.run_section("setup")
            if not isinstance(self.test.data.get("operations"), list):
                raise CaseTypeError("TypeError: the test has no `operations` list")
            self.run_section("operations")
        except StepError as error:
            failure = ("Setup failed: " if self.section == "setup" else "") + str(error)
        except TestException as error:
            failure = str(error)
            adapter_broken = isinstance(error, (CommandTimeout, AdapterExited))
        except Exception as error:  # a runner bug: fail the test, keep the run going
            traceback.print_exc(file=sys.stderr)
            failure = f"internal runner error: {error!r}"
        where, last_result = self.where, self.last_result
        self.settle_background()
        self.run_cleanup(adapter_steps=failure is None and not adapter_broken)
        self.collect_stray_output()
        duration = int((time.monotonic() - started) * 1000)
        if failure is None:
            return TestResult(self.test, "pass", warnings=self.warnings, duration_ms=duration)
        return TestResult(self.test, "fail", reason=failure, where=where, result=last_result,
                          warnings=self.warnings, duration_ms=duration)

    def run_section(self, section):
        self.section = section
        steps = self.test.data.get(section) or []
        if not isinstance(steps, list):
            raise CaseTypeError(f"TypeError: `{section}` is not a list")
        for index, step in enumerate(steps):
            self.where = f"{section}[{index}] {self.label(step)}"
            self.last_result = None
            outcome = self.run_step(step)
            self.last_result = outcome.result
            self.warnings += [f"{self.where}: {w}" for w in step_warnings(section, step, outcome)]
            self.log_step(outcome)
            if section == "operations":
                self.check_expect(step, outcome)

    def check_expect(self, step, outcome):
        expect = step.get("expect")
        if outcome.result is not None and is_judged(expect):
            failure = judge(expect, outcome.result)
            if failure:
                raise ExpectationFailed(failure)

    def run_cleanup(self, adapter_steps):
        """Best effort. After a failure only HTTP and local steps run (strict rule L10),
        so the adapter sees exactly the official runner's command sequence."""
        steps = self.test.data.get("cleanup")
        for index, step in enumerate(steps if isinstance(steps, list) else []):
            if not adapter_steps and not self.is_http_or_local(step):
                continue
            try:
                self.where = f"cleanup[{index}] {self.label(step)}"
                self.log_step(self.run_step(step))
            except Exception as error:  # cleanup errors never matter
                self.log_line(f"{self.where}: ignored error: {error}")
        self.settle_background()

    @staticmethod
    def is_http_or_local(step):
        action = step.get("action") if isinstance(step, dict) else None
        return action in HTTP_STEPS or action in ("wait", "set", "assert")

    def settle_background(self):
        """Wait for reads never awaited, so their answers cannot leak into the next test."""
        for ref, pending in list(self.handles.items()):
            try:
                self.adapter.wait(pending)
            except TestException:
                pass
            self.warnings.append(f"background read {ref!r} was never awaited")
        self.handles.clear()

    def collect_stray_output(self):
        for line in self.adapter.take_stray_lines():
            self.warnings.append(f"adapter wrote a line while no command was pending: "
                                 f"{show(line)}")

    # --- steps -----------------------------------------------------------------------------

    def run_step(self, step):
        if not isinstance(step, dict):
            raise CaseTypeError(f"TypeError: a step is not a mapping: {step!r}")
        action = step.get("action", UNDEFINED)
        handler = self.HANDLERS.get(action)
        if handler:
            return handler(self, step)
        if action in BUILDERS:
            return self.send(build_command(step, self.variables))
        if action in HTTP_STEPS:
            outcome = HTTP_STEPS[action](step, self.variables, self.context.server_url)
            self.store_server_append(step, outcome)
            return outcome
        raise StepError(f"Unknown operation: {to_string(action)}")

    def send(self, command):
        return Outcome(self.adapter.send(command, self.context.timeout_ms))

    def create(self, step):
        path = create_path(step, self.variables)
        if truthy(step.get("as")):
            self.variables.set(step["as"], path)
        return self.send(build_create(step, path))

    def append(self, step):
        outcome = self.send(build_command(step, self.variables))
        if is_success_of(outcome.result, "append"):
            self.store(step, "storeOffsetAs", outcome.result.get("offset", UNDEFINED))
        return outcome

    def append_batch(self, step):
        timeout = self.context.timeout_ms
        results = [self.adapter.send(command, timeout)
                   for command in build_batch_appends(step, self.variables)]
        ok = all(succeeded(result) for result in results)
        result = {"type": "append", "success": ok, "status": 200 if ok else 207}
        return Outcome(result, origin="runner", item_results=results)

    def idempotent_append(self, step):
        outcome = self.send(build_command(step, self.variables))
        if is_success_of(outcome.result, "idempotent-append"):
            offset = outcome.result.get("offset")
            self.store(step, "storeOffsetAs", "" if offset is None else offset)
        return outcome

    def read(self, step):
        command = build_command(step, self.variables)
        if truthy(step.get("background")) and truthy(step.get("as")):
            self.handles[step["as"]] = self.adapter.start(command, self.context.timeout_ms)
            return Outcome(note=f"started in background as {to_string(step['as'])}")
        outcome = self.send(command)
        if is_success_of(outcome.result, "read"):
            self.store(step, "storeOffsetAs", outcome.result.get("offset", UNDEFINED))
            if self.store_name(step, "storeDataAs") is not None:
                self.store(step, "storeDataAs", concatenated_data(outcome.result))
        return outcome

    def head(self, step):
        outcome = self.send(build_command(step, self.variables))
        if succeeded(outcome.result):
            self.store(step, "storeAs", outcome.result)
        return outcome

    def store_server_append(self, step, outcome):
        if step.get("action") == "server-append" and outcome.result.get("offset"):
            self.store(step, "storeOffsetAs", outcome.result["offset"])

    def await_(self, step):
        ref = step.get("ref")
        pending = self.handles.pop(ref, None)
        if pending is None:
            raise StepError(f"No background operation found with ref: {to_string(ref)}")
        return Outcome(self.adapter.wait(pending))

    def wait(self, step):
        ms = step.get("ms")
        if is_number(ms) and ms > 0:
            time.sleep(ms / 1000)
        return Outcome()

    def set_variable(self, step):
        value = self.variables.substitute(step.get("value"))
        self.variables.set(to_string(step.get("name")), value)
        return Outcome()

    def assert_(self, step):
        for kind, check in ASSERTIONS:
            operands = step.get(kind)
            if truthy(operands):
                if not isinstance(operands, dict):
                    raise CaseTypeError(f"TypeError: assert `{kind}` must be a mapping")
                failure = check(operands, self.variables)
                if failure:
                    message = step.get("message")
                    raise StepError(to_string(message) if truthy(message) else failure)
        return Outcome()

    HANDLERS = {
        "create": create, "append": append, "append-batch": append_batch,
        "idempotent-append": idempotent_append, "read": read, "head": head,
        "await": await_, "wait": wait, "set": set_variable, "assert": assert_,
    }

    # --- variables and logging -------------------------------------------------------------

    @staticmethod
    def store_name(step, key):
        expect = step.get("expect")
        name = expect.get(key) if isinstance(expect, dict) else None
        return None if name is None else to_string(name)

    def store(self, step, key, value):
        name = self.store_name(step, key)
        if name is not None:
            self.variables.set(name, value)

    def label(self, step):
        """`read /test-stream-...`: the action and its path, substituted when possible."""
        if not isinstance(step, dict):
            return "?"
        path = step.get("path") or step.get("ref") or ""
        if isinstance(path, str) and "${randomUUID}" not in path:
            try:
                path = self.variables.substitute(path)
            except TestException:
                pass
        text = f"{to_string(step.get('action'))} {to_string(path)}".strip()
        if step.get("action") == "create" and truthy(step.get("as")):
            text += f" (as {to_string(step['as'])})"
        return text

    def log_step(self, outcome):
        result = outcome.result
        if outcome.item_results is not None:
            ok = sum(succeeded(r) for r in outcome.item_results)
            text = f"{ok}/{len(outcome.item_results)} succeeded"
        elif result is None:
            text = outcome.note or "ok"
        elif succeeded(result):
            status = f" (status {to_string(result['status'])})" if "status" in result else ""
            text = "ok" + status
        else:
            text = describe(result)
        self.log_line(f"{self.where}: {text}")

    def log_line(self, text):
        if self.context.log:
            self.context.log(text)


def assert_equals(operands, variables, negate=False):
    left = variables.substitute(operands.get("left"))
    right = variables.substitute(operands.get("right"))
    if (left == right) != negate:
        return None
    relation = "not to equal" if negate else "to equal"
    return f"Assertion failed: expected {show(left)} {relation} {show(right)}"


def assert_contains(operands, variables):
    value = variables.substitute(operands.get("value"))
    substring = variables.substitute(operands.get("substring"))
    if substring in value:
        return None
    return f"Assertion failed: expected {show(value)} to contain {show(substring)}"


def assert_matches(operands, variables):
    value = variables.substitute(operands.get("value"))
    try:
        pattern = re.compile(to_string(operands.get("pattern")))
    except re.error as error:
        raise StepError(f"Invalid regular expression: {error}") from error
    if pattern.search(value):
        return None
    return f"Assertion failed: expected {show(value)} to match /{pattern.pattern}/"


ASSERTIONS = [
    ("equals", assert_equals),
    ("notEquals", lambda operands, variables: assert_equals(operands, variables, negate=True)),
    ("contains", assert_contains),
    ("matches", assert_matches),
]
