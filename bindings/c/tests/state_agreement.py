#!/usr/bin/env python3
"""The C binding materializes every shared State Protocol fixture (tests/state/fixtures)
to its expected result: each fixture's events go one per line to the C test binary
(`test_durastream --materialize FILE`), which reports the malformed ones and the state.

Usage: state_agreement.py TEST_BINARY
"""

import json
import pathlib
import subprocess
import sys
import tempfile

FIXTURES = pathlib.Path(__file__).resolve().parents[3] / "tests" / "state" / "fixtures"


def same(a, b):
    """JSON equality where numbers compare by value."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def main() -> int:
    binary = sys.argv[1]
    files = sorted(FIXTURES.glob("*.json"))
    assert len(files) >= 10, files
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            f = json.loads(path.read_text())
            events = pathlib.Path(tmp) / "events.jsonl"
            events.write_text("".join(json.dumps(e) + "\n" for e in f["events"]))
            out = subprocess.run([binary, "--materialize", str(events)], capture_output=True,
                                 text=True, check=True).stdout.splitlines()
            malformed = [int(i) for i in out[0].split(":")[1].split()]
            state = json.loads(out[1])
            expected = {t: keys for t, keys in f["expected"]["state"].items() if keys}
            if malformed != f["expected"]["malformed"] or not same(state, expected):
                failed += 1
                print(f"DIFFERS {path.name}: malformed {malformed}, state {out[1][:300]}")
    print(f"c state agreement: {len(files) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
