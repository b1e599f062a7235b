"""Errors that stop the grader itself: a usage or configuration mistake of the instructor.

A student's mistake is never one of these; it becomes a score and a message.
"""


class GraderError(Exception):
    """A problem the person running `grade` must fix; printed as `Error: ...`."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(GraderError):
    """A bad rubric, fixture or option; the message names the file or flag and the fix."""
