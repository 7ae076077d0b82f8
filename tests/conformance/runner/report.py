"""Console output: one line per test, failure details, warnings and the summary."""

import sys

from .jsvalues import stringify

RESULT_PREVIEW = 600


def emit(text=""):
    """One stdout line, written in one call so stderr lines cannot split it."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def print_test(result):
    test = result.test
    if result.verdict == "pass":
        emit(f"PASS {test.full_id} ({result.duration_ms}ms)")
    elif result.verdict == "skip":
        emit(f"SKIP {test.full_id} ({result.reason})")
    else:
        emit(f"FAIL {test.full_id} ({result.duration_ms}ms)")
        if test.name:
            emit(f"       name:   {test.name}")
        if result.where:
            emit(f"       step:   {result.where}")
        emit(f"       reason: {result.reason}")
        if result.result is not None:
            emit(f"       result: {preview(result.result)}")
    for note in result.notes:
        emit(f"       note: {note}")
    for warning in result.warnings:
        emit(f"       WARNING: {warning}")


def preview(result):
    text = stringify(result)
    return text if len(text) <= RESULT_PREVIEW else text[:RESULT_PREVIEW] + "..."


def print_summary(results, seconds):
    counts = {verdict: sum(r.verdict == verdict for r in results)
              for verdict in ("pass", "fail", "skip")}
    failures = [r for r in results if r.verdict == "fail"]
    emit()
    emit("=" * 40)
    if failures:
        emit("Failed tests:")
        for result in failures:
            emit(f"  - {result.test.full_id}: {result.reason}")
    warned = [r for r in results if r.warnings]
    total_warnings = sum(len(r.warnings) for r in warned)
    emit(f"Duration: {seconds:.2f}s")
    emit(f"Warnings: {total_warnings} strict-mode finding(s) in {len(warned)} test(s), "
         f"not counted as failures")
    emit(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
    return counts
