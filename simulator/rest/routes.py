"""The names of the fake Voice API's routes, as the journal, faults and checks use them.

Every request the fake receives is classified under one :class:`Route`. A ``Route`` is a
``StrEnum``: it equals its string, so scenario files, fault rules and JSON reports that
say ``update_call`` keep working.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["CALL_ROUTES", "FAULT_ROUTES", "Route"]


class Route(StrEnum):
    """One operation of the fake: the OAuth token endpoint, a Voice API call, or ours."""

    TOKEN = "token"  # noqa: S105  # a route name, not a secret
    """``POST /api/v1/oauth2/token``: an access token for Basic client credentials."""
    UPDATE_CALL = "update_call"
    """``POST …/calls/{callId}``: hang up or redirect a call."""
    UPDATE_BXML = "update_bxml"
    """``PUT …/calls/{callId}/bxml``: replace the BXML a call runs."""
    GET_CALL = "get_call"
    """``GET …/calls/{callId}``: a call's state."""
    LIST_CALLS = "list_calls"
    """``GET …/calls``: list calls."""
    CREATE_CALL = "create_call"
    """``POST …/calls``: place an outbound call."""
    CONTROL = "control"
    """The simulator's own API under ``/_bwsim``; not Bandwidth's."""
    METHOD_NOT_ALLOWED = "method-not-allowed"
    """A known path with a method Bandwidth does not serve there."""
    UNROUTED = "unrouted"
    """A path the fake knows nothing of."""


FAULT_ROUTES: Final = frozenset(
    {
        Route.TOKEN,
        Route.UPDATE_CALL,
        Route.UPDATE_BXML,
        Route.GET_CALL,
        Route.LIST_CALLS,
        Route.CREATE_CALL,
    }
)
"""Routes a fault rule may name (besides ``*``, every one of them)."""

CALL_ROUTES: Final = frozenset(
    {
        Route.UPDATE_CALL,
        Route.UPDATE_BXML,
        Route.GET_CALL,
        Route.LIST_CALLS,
        Route.CREATE_CALL,
        Route.UNROUTED,
    }
)
"""Routes that act on (or look for) calls; ``token`` and ``control`` do not."""
