"""``--app MODULE:ATTR`` must name an ASGI app: what serve_app refuses, and what it serves."""

from __future__ import annotations

import functools
import json
import types
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware

from simulator.runner import serve_app
from simulator.runner.serve_app import EXPECTED, Refused, asgi_problem


async def plain_app(scope: Any, receive: Any, send: Any) -> None:
    """The smallest ASGI 3 app."""


class CallableApp:
    """An ASGI app as a class instance with an async ``__call__``."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve one connection."""


class Wrapper:
    """Hand-written ASGI middleware: holds an app, is an app."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Pass the connection on."""
        await self.inner(scope, receive, send)


class Asgi2App:
    """The legacy ASGI 2 shape: built with ``scope``, then awaited with (receive, send)."""

    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        """Serve the connection."""


def no_arguments() -> FastAPI:
    """An app factory (or a ``main``): takes nothing."""
    return FastAPI()


def two_arguments(request: Any, settings: Any) -> None:
    """A plain function with arguments no ASGI server passes."""


def sync_three(scope: Any, receive: Any, send: Any) -> None:
    """ASGI's arguments, but not async: uvicorn would call it as ASGI 2 and fail."""


class NotCallable:
    """An instance without ``__call__``."""


ACCEPTED = {
    "FastAPI instance": FastAPI(),
    "Starlette instance": Starlette(),
    "async def app(scope, receive, send)": plain_app,
    "class with async __call__": CallableApp(),
    "Starlette middleware around FastAPI": CORSMiddleware(FastAPI(), allow_origins=["*"]),
    "GZip middleware around Starlette": GZipMiddleware(Starlette()),
    "hand-written middleware": Wrapper(FastAPI()),
    "ASGI 2 class": Asgi2App,
}


@pytest.mark.parametrize("app", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_real_asgi_apps_are_accepted(app: object) -> None:
    """Every shape uvicorn serves as an ASGI app passes the check."""
    assert asgi_problem(app) is None


REFUSED = {
    "None": (None, "None"),
    "a module": (json, "the module json"),
    "a function taking no arguments": (no_arguments, "which takes no arguments"),
    "a function taking the wrong arguments": (two_arguments, "two_arguments(request, settings)"),
    "a synchronous (scope, receive, send)": (sync_three, "which is not async"),
    "the FastAPI class, not an instance": (FastAPI, "the class fastapi.applications.FastAPI"),
    "an instance without __call__": (NotCallable(), "which cannot be called"),
    "a string": ("bot:app", "an object of type str"),
    "a partial that leaves two arguments": (
        functools.partial(plain_app, {}),
        "functools.partial object",
    ),
}


@pytest.mark.parametrize(("app", "named"), REFUSED.values(), ids=REFUSED.keys())
def test_what_is_not_an_asgi_app_is_refused_naming_what_it_is(app: object, named: str) -> None:
    """A non-app is refused, and the reason names what was found."""
    problem = asgi_problem(app)
    assert problem is not None
    assert named in problem


def test_a_module_holding_an_app_suggests_it() -> None:
    """Naming the module instead of the app in it points at the app by name."""
    module = types.ModuleType("tests_fake_bot")
    module.app = FastAPI()  # type: ignore[attr-defined]
    module.helper = two_arguments  # type: ignore[attr-defined]
    assert asgi_problem(module) == "the module tests_fake_bot"
    assert serve_app._module_hint(module) == " The module holds app: try --app tests_fake_bot:app"


def test_the_refusal_names_the_spec_and_what_is_expected() -> None:
    """The child's message says which --app, what it names, and what an ASGI app is."""
    with pytest.raises(Refused) as caught:
        serve_app._load("tests.bots.not_asgi:handler")
    message = str(caught.value)
    assert message.startswith("--app tests.bots.not_asgi:handler names the function ")
    assert "not an ASGI app" in message
    assert EXPECTED in message


def test_an_app_factory_is_called_and_its_result_served() -> None:
    """A function taking no arguments is a factory (as uvicorn has it): its result is the app."""
    from tests.bots import not_asgi

    assert serve_app._load("tests.bots.not_asgi:make_app") is not_asgi.make_app()


def test_a_factory_returning_no_app_is_refused_naming_both() -> None:
    """A factory returning None: the refusal names the factory and what it returned."""
    with pytest.raises(Refused) as caught:
        serve_app._load("tests.bots.not_asgi:make_nothing")
    assert "names the function tests.bots.not_asgi.make_nothing(), which returned None" in str(
        caught.value
    )


def test_a_package_attribute_that_is_an_unimported_submodule_is_named_as_a_module() -> None:
    """--app json:tool finds the submodule json.tool and says it is a module, not 'no such'."""
    with pytest.raises(Refused, match=r"names the module json\.tool"):
        serve_app._load("json:tool")
