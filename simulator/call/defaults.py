"""How long a call may last before bwsim ends it, by default.

Two defaults, on purpose. A call placed from the command line (``bwsim call``,
``bwsim load``, ``bwsim serve``) or by a scenario is a short conversation: after
:data:`DEFAULT_MAX_CALL_S` bwsim ends it and says so. A call placed through the library
(``CallOptions``, the pytest fixture) gets :data:`LIBRARY_MAX_CALL_S`, room for tests
that script longer exchanges; such a test can always set its own ``max_call_s``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_MAX_CALL_S", "LIBRARY_MAX_CALL_S"]

DEFAULT_MAX_CALL_S: Final = 60.0
"""Longest call, in seconds, for the commands and for scenarios (``call.max_call_s``)."""

LIBRARY_MAX_CALL_S: Final = 120.0
"""Longest call, in seconds, for ``CallOptions`` when the caller does not say."""
