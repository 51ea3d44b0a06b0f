"""The one error type for input or state a user can fix.

Library code raises a subclass of :class:`NasrlmError` with a message that names what is wrong and what
would be valid; the CLI prints that message as one line and exits with status 2. Anything else that
escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["NasrlmError"]


class NasrlmError(Exception):
    """Bad input or state the user can fix; ``str(error)`` is a complete one-line message."""

    def __str__(self) -> str:
        # KeyError subclasses would otherwise print their message quoted.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()
