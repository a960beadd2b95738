"""Child-process entry point for ``--app MODULE:ATTR``: serve the app, report the port.

Run as ``python -m simulator.runner.serve_app MODULE:ATTR``. It binds 127.0.0.1 port 0 and
writes the bound port, one line, to the file descriptor in ``$BWSIM_READY_FD``, which
the harness reads; SIGTERM stops uvicorn gracefully.

Before serving it checks that ``MODULE:ATTR`` names an ASGI app (:func:`asgi_problem`).
Served as it is, a module or a plain function would start, and then every request would
answer 500 with a ``TypeError`` that only the bot's log shows. What it refuses, it
reports on the same descriptor as ``error "<message>"`` (a JSON string) and exits 2; the
harness turns that into a :class:`~simulator.errors.TargetError` (exit code 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import json
import os
import sys
import types
from collections.abc import Callable

import uvicorn

from simulator.runner.servers import ReadyServer, wait_started

__all__ = ["EXPECTED", "asgi_problem", "main"]

EXPECTED = (
    "an ASGI app: an async callable taking (scope, receive, send), "
    "for example a FastAPI or Starlette instance"
)
"""What ``--app`` must name, as every refusal says it."""

# uvicorn decides between ASGI 3 and ASGI 2 with asyncio's version of this test on 3.11
# (uvicorn.config.Config.load); the check mirrors it so that it refuses what uvicorn would
# serve wrongly and nothing uvicorn serves rightly.
_is_async: Callable[[object], bool] = asyncio.iscoroutinefunction


class Refused(Exception):
    """``MODULE:ATTR`` cannot be served; the message says why and what to name instead."""


def _binds(signature: inspect.Signature, n: int) -> bool:
    """Whether ``n`` positional arguments fit the signature."""
    try:
        signature.bind(*range(n))
    except TypeError:
        return False
    return True


def _signature(obj: object) -> inspect.Signature | None:
    try:
        return inspect.signature(obj)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None  # a builtin or C callable: nothing to go on


def _shown(signature: inspect.Signature | None) -> str:
    """``(a, b)``: the parameters without annotations, as a message shows them."""
    if signature is None:
        return "(…)"
    empty = inspect.Parameter.empty
    bare = [p.replace(annotation=empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=bare, return_annotation=empty))


def _instance_call(cls: type) -> object | None:
    """The ``__call__`` the class gives its instances (not ``type.__call__``)."""
    for klass in cls.__mro__:
        call: object = vars(klass).get("__call__")
        if call is not None:
            return call
    return None


def _name(obj: object) -> str:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "?")
    return f"{module}.{qualname}" if module else str(qualname)


def _class_problem(cls: type) -> str | None:
    name = _name(cls)
    signature = _signature(cls)
    if hasattr(cls, "__await__"):
        # uvicorn serves such a class as ASGI 3: cls(scope, receive, send), then awaited.
        if signature is None or _binds(signature, 3):
            return None
        return f"the class {name}{_shown(signature)}"
    call = _instance_call(cls)
    if call is not None and _is_async(call):
        call_signature = _signature(call)
        asgi2 = (
            signature is not None
            and _binds(signature, 1)
            and call_signature is not None
            and _binds(call_signature, 3)  # (self, receive, send)
            and not _binds(call_signature, 4)
        )
        if asgi2:  # ASGI 2: cls(scope) gives an instance awaited with (receive, send)
            return None
    return (
        f"the class {name} itself; name an instance of it (for example `app = "
        f"{cls.__name__}(...)` in your module, then --app MODULE:app)"
    )


def _module_hint(module: object) -> str:
    """Names of app objects (instances, as apps usually are) in the module, as a suggestion."""
    found = [
        key
        for key, value in sorted(vars(module).items())
        if not key.startswith("_")
        and not inspect.ismodule(value)
        and not inspect.isclass(value)
        and not inspect.isroutine(value)
        and _is_async(_instance_call(type(value)))
        and asgi_problem(value) is None
    ]
    if not found:
        return ""
    name = getattr(module, "__name__", "MODULE")
    return f" The module holds {', '.join(found[:5])}: try --app {name}:{found[0]}"


def asgi_problem(app: object) -> str | None:
    """What ``app`` is, when uvicorn cannot serve it as an ASGI app; None when it can.

    Accepted, as uvicorn serves them: an ``async def app(scope, receive, send)``; an
    object whose ``__call__`` is such a coroutine function (FastAPI, Starlette, ASGI
    middleware wrapping either); a class whose instances are awaitable (ASGI 3 class
    style); and the legacy ASGI 2 shapes (a synchronous callable taking ``scope``).
    Refused: None, a module, a class that is not an app itself (a FastAPI class rather
    than an instance), an object that cannot be called, and callables whose arguments do
    not fit, such as a function taking no arguments or a synchronous function taking
    ``(scope, receive, send)``. A callable whose signature Python cannot read is let
    through: nothing says it is wrong. (An app factory, a function taking no arguments,
    is refused here; :func:`_load` calls it first and checks what it returns.)
    """
    if app is None:
        return "None (is the app created only under `if __name__ == '__main__':`?)"
    if inspect.ismodule(app):
        return f"the module {app.__name__}"
    if inspect.isclass(app):
        return _class_problem(app)
    signature = _signature(app)
    if isinstance(app, types.FunctionType):  # a `def`, as uvicorn's inspect.isfunction
        asgi3 = _is_async(app)
        what = f"the function {_name(app)}{_shown(signature)}"
    elif callable(app):
        asgi3 = _is_async(_instance_call(type(app)))
        what = f"a {_name(type(app))} object whose call takes {_shown(signature)}"
    else:
        shown = repr(app)
        shown = shown if len(shown) <= 60 else shown[:60] + "…"
        return f"an object of type {type(app).__name__} ({shown}), which cannot be called"
    if signature is None:
        return None
    if asgi3:
        return None if _binds(signature, 3) else what
    if _binds(signature, 1):
        return None  # ASGI 2: app(scope) returns a callable awaited with (receive, send)
    if _binds(signature, 3):
        return f"{what}, which is not async (declare it `async def`)"
    if _binds(signature, 0):
        return (
            f"{what}, which takes no arguments; if it builds the app, name the app it "
            "returns (for example `app = create_app()` in your module)"
        )
    return what


def _attribute(module: object, module_name: str, attr: str, spec: str) -> object:
    """``module.attr`` (dotted); a submodule not imported yet is imported, as ``bot:app``."""
    found = module
    for part in attr.split("."):
        if not hasattr(found, part) and inspect.ismodule(found):
            with contextlib.suppress(ImportError):
                importlib.import_module(f"{found.__name__}.{part}")
        if not hasattr(found, part):
            raise Refused(f"module {module_name!r} has no attribute {attr!r} (--app {spec})")
        found = getattr(found, part)
    return found


def _is_factory(app: object) -> bool:
    """A synchronous ``def`` callable with no arguments: uvicorn calls it to build the app."""
    if not isinstance(app, types.FunctionType) or _is_async(app):
        return False
    signature = _signature(app)
    return signature is not None and _binds(signature, 0)


def _load(spec: str) -> object:
    """The ASGI app ``spec`` names; raises :class:`Refused` saying why it cannot be served.

    A function that takes no arguments is an app factory, as uvicorn treats it: it is
    called, and what it returns must be the ASGI app.
    """
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise Refused(
            f"cannot import {module_name!r} for --app {spec}: {exc}. "
            "Run bwsim from the folder that contains the module, or install it."
        ) from exc
    app = _attribute(module, module_name, attr, spec)
    named = ""
    if _is_factory(app):
        named = f"the function {_name(app)}(), which returned "
        app = app()  # type: ignore[operator]  # _is_factory checked it takes no arguments
    problem = asgi_problem(app)
    if problem is not None:
        hint = _module_hint(app) if inspect.ismodule(app) else ""
        raise Refused(
            f"--app {spec} names {named}{problem}, not an ASGI app. bwsim expects {EXPECTED}.{hint}"
        )
    return app


class _Server(ReadyServer):
    """Unlike the harness's servers, the child keeps uvicorn's SIGTERM handling."""

    capture_signals = uvicorn.Server.capture_signals  # stop gracefully on SIGTERM/SIGINT


async def _serve(app: object, ready_fd: int | None) -> None:
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=0,
        ws="websockets-sansio",
        log_level=os.environ.get("BWSIM_BOT_LOG_LEVEL", "warning"),
        access_log=False,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    port = await wait_started(server, task, 60.0, "the app")
    if ready_fd is not None:
        os.write(ready_fd, f"{port}\n".encode())
        os.close(ready_fd)
    await task


def main(argv: list[str] | None = None) -> None:
    """Serve ``MODULE:ATTR`` from the command line."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or ":" not in args[0]:
        raise SystemExit("usage: python -m simulator.runner.serve_app MODULE:ATTR")
    fd = os.environ.get("BWSIM_READY_FD")
    ready_fd = int(fd) if fd else None
    try:
        app = _load(args[0])
    except Refused as exc:
        sys.stderr.write(f"bwsim: {exc}\n")  # in the bot's log too
        sys.stderr.flush()
        if ready_fd is not None:
            os.write(ready_fd, b"error " + json.dumps(str(exc)).encode() + b"\n")
            os.close(ready_fd)
        raise SystemExit(2) from None
    asyncio.run(_serve(app, ready_fd))


if __name__ == "__main__":
    main()
