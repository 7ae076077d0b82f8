"""Exceptions that end a test, split the way the official runner reports them."""


class TestException(Exception):
    """Fails the test with its message as is, even in setup (CASES_FORMAT.md section 5.2)."""


class UndefinedVariable(TestException):
    pass


class CaseTypeError(TestException):
    """A value of the wrong type, where the official runner would hit a JS TypeError."""


class StepError(Exception):
    """A runner-level error (section 4.1); in setup it is reported as `Setup failed: ...`."""


class CaseFileError(Exception):
    """A case file that cannot be run at all: the run aborts before the server starts."""
