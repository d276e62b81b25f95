"""brine's errors as Python exceptions: one subclass per brine_status (include/brine.h)."""

from __future__ import annotations

from typing import Optional


class BrineError(Exception):
    """A brine call failed. `message` is brine's sentence (what was needed, what was found),
    `status` the brine_status code, `offset` the byte offset in the file (or None), and for
    limit errors `limit`, `limit_value` and `observed`."""

    status_name = "error"

    def __init__(self, message: str, status: int, offset: Optional[int] = None,
                 limit: Optional[str] = None, limit_value: Optional[int] = None,
                 observed: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.offset = offset
        self.limit = limit
        self.limit_value = limit_value
        self.observed = observed

    def __str__(self) -> str:
        where = f" (offset {self.offset})" if self.offset is not None else ""
        return f"{self.message}{where}"


class MalformedError(BrineError):
    """BRINE_ERR_MALFORMED: the input is not well-formed."""


class LimitError(BrineError):
    """BRINE_ERR_LIMIT: a resource limit was exceeded."""


class BrineMemoryError(BrineError, MemoryError):
    """BRINE_ERR_NOMEM: an allocation failed or the memory budget ran out."""


class BrineIOError(BrineError, OSError):
    """BRINE_ERR_IO: a file could not be opened, read, mapped or written."""

    def __str__(self) -> str:  # OSError's __str__ would print the args tuple
        return BrineError.__str__(self)


class UsageError(BrineError, ValueError):
    """BRINE_ERR_USAGE: an invalid argument."""


class PolicyError(BrineError):
    """BRINE_ERR_POLICY: refused, the input uses something the policy does not allow
    (loading an unsafe or unverified file, allowing a never-allowable module)."""


class UnsupportedError(BrineError):
    """BRINE_ERR_UNSUPPORTED: a valid construct brine does not handle."""


_BY_STATUS = {1: MalformedError, 2: LimitError, 3: BrineMemoryError, 4: BrineIOError,
              5: UsageError, 6: PolicyError, 7: UnsupportedError}


def error_from_status(status: int, message: str, **details) -> BrineError:
    return _BY_STATUS.get(status, BrineError)(message, status, **details)
