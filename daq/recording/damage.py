"""Reading a damaged file: what h5py (and the decoding of its metadata) raises on a damaged
part, turned into a ``DamagedRecordingError`` that names the file and the part.

Thread: any (the decorated method's own).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from daq.errors import DamagedRecordingError, RecordingError

# h5py: OSError, KeyError, RuntimeError, ValueError; json and pydantic: ValueError; hdmf on a
# file whose parts disagree (an electrode row past its table): IndexError, TypeError
DAMAGE_ERRORS = (OSError, KeyError, RuntimeError, ValueError, TypeError, IndexError)
_F = TypeVar("_F", bound=Callable[..., Any])


def reads(what: str) -> Callable[[_F], _F]:
    """A method of a reader (an object with ``path``) that reads ``what`` from its file: an
    error in ``DAMAGE_ERRORS`` becomes a ``DamagedRecordingError`` naming the file and ``what``."""

    def wrap(fn: _F) -> _F:
        @functools.wraps(fn)
        def reading(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except RecordingError:
                raise
            except DAMAGE_ERRORS as exc:
                raise DamagedRecordingError(f"{self.path}: {what} cannot be read; the file is damaged "
                                            f"({type(exc).__name__}: {exc})") from None

        return reading  # type: ignore[return-value]

    return wrap
