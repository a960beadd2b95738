"""Route a bot's hard-coded Bandwidth URLs to the fake, and refuse every other host.

Real bots (Bandwidth's Pipecat example included) call ``https://api.bandwidth.com/…``
and ``https://voice.bandwidth.com/…`` directly: pipecat-bandwidth's serializer through
aiohttp, bot code often through httpx. bwsim must test such a bot unchanged, and no test
may ever reach the real Bandwidth or any other real service. So, when bwsim starts or
imports a bot, it installs three hooks:

- **httpx**: ``HTTPTransport.handle_request`` / ``AsyncHTTPTransport.handle_async_request``
  rewrite requests for Bandwidth hosts to the fake's loopback address. This is done at
  the transport, not with a respx mock, on purpose: the request really travels over HTTP
  to the fake server (which journals it), and a bot's own respx mocks keep working.
- **aiohttp**: ``ClientSession._build_url`` (every request and ``ws_connect`` passes
  through it) does the same rewrite.
- **sockets** (the backstop for any other client library): ``socket.getaddrinfo`` and
  ``socket.socket.connect`` refuse every non-loopback name and address.

A refused request raises an error naming the host (an ``httpx.ConnectError`` /
``aiohttp.ClientConnectionError`` subclass where those libraries are used, so bots'
own error handling sees a normal connection failure) and is reported as a violation.

This module imports only the standard library at load time, so a child process can load
it by file path from the bootstrap ``sitecustomize`` (``simulator/rest/_bootstrap``) even when
the child's environment does not have bwsim's dependencies.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if __package__:
    from simulator.errors import BlockedRequestError
else:  # loaded by file path from the bootstrap, without the simulator package
    _spec = importlib.util.spec_from_file_location(
        "_bwsim_errors", Path(__file__).resolve().parent.parent / "errors.py"
    )
    assert _spec is not None
    assert _spec.loader is not None
    _errors = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_errors)
    BlockedRequestError = _errors.BlockedRequestError  # type: ignore[misc]

__all__ = [
    "BANDWIDTH_HOSTS",
    "ENV_VAR",
    "BlockedRequestError",
    "Interceptor",
    "bootstrap_dir",
    "install_from_env",
    "is_loopback_host",
]

_log = logging.getLogger(__name__)

BANDWIDTH_HOSTS = frozenset(
    {
        "api.bandwidth.com",
        "voice.bandwidth.com",
        "test.api.bandwidth.com",
        "test.voice.bandwidth.com",
    }
)
ENV_VAR = "BWSIM_INTERCEPT"
ORIGINAL_HOST_HEADER = "x-bwsim-original-host"

_WILDCARDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - bind addresses, not destinations


def is_loopback_host(host: str | bytes | None) -> bool:
    """Whether ``host`` names this machine: loopback addresses, ``localhost`` names, wildcards."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("idna", errors="replace")
    name = host.strip("[]").rstrip(".").lower()
    if name in _WILDCARDS or name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def bootstrap_dir() -> Path:
    """Folder to put first on a child's ``PYTHONPATH`` so it installs the hooks at startup."""
    return Path(__file__).resolve().parent / "_bootstrap"


class Interceptor:
    """The installed hooks; one per process, installed and removed as a whole."""

    _active: Interceptor | None = None
    _lock = threading.Lock()

    def __init__(
        self,
        api_base: str,
        *,
        on_blocked: Callable[[str, str], None] | None = None,
        block_sockets: bool = True,
    ) -> None:
        parts = urlsplit(api_base)
        if parts.hostname is None or not is_loopback_host(parts.hostname):
            raise ValueError(f"api_base must be a loopback URL, got {api_base!r}")
        self.api_scheme = parts.scheme or "http"
        self.api_host = parts.hostname
        self.api_port = parts.port or (443 if self.api_scheme == "https" else 80)
        self.on_blocked = on_blocked
        self.block_sockets = block_sockets
        self.blocked: list[tuple[str, str]] = []
        self.routed = 0
        self._undo: list[Callable[[], None]] = []

    # -- decisions ------------------------------------------------------------------

    def _block(self, host: str, url: str) -> None:
        self.blocked.append((host, url))
        if self.on_blocked is not None:
            try:
                self.on_blocked(host, url)
            except Exception as exc:  # noqa: BLE001 - reporting must never hide the refusal
                # Logged, not printed: with no logging set up, Python writes it to stderr.
                _log.warning("bwsim: could not report a blocked request: %s", exc)

    def decide(self, host: str | None, url: str) -> str:
        """Return ``route`` (Bandwidth host), ``pass`` (loopback) or ``block``; records blocks."""
        name = (host or "").lower().rstrip(".")
        if name in BANDWIDTH_HOSTS:
            self.routed += 1
            return "route"
        if is_loopback_host(name):
            return "pass"
        self._block(name, url)
        return "block"

    # -- installation ---------------------------------------------------------------

    def install(self) -> Interceptor:
        """Install every hook; raises if another interceptor is active in this process."""
        with Interceptor._lock:
            if Interceptor._active is not None:
                raise RuntimeError(
                    "a bwsim interceptor is already installed in this process; "
                    "uninstall it first (one fake Bandwidth per process)"
                )
            Interceptor._active = self
        self._patch_httpx()
        self._patch_aiohttp()
        if self.block_sockets:
            self._patch_sockets()
        return self

    def uninstall(self) -> None:
        """Remove every hook this interceptor installed."""
        while self._undo:
            self._undo.pop()()
        with Interceptor._lock:
            if Interceptor._active is self:
                Interceptor._active = None

    def __enter__(self) -> Interceptor:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    def _set(self, owner: Any, name: str, value: Any) -> None:
        had_own = name in vars(owner)
        original = vars(owner).get(name)
        setattr(owner, name, value)
        if had_own:
            self._undo.append(lambda: setattr(owner, name, original))
        else:  # inherited (socket.socket.connect comes from _socket.socket): just remove ours
            self._undo.append(lambda: delattr(owner, name))

    def _patch_httpx(self) -> None:
        try:
            import httpx  # noqa: PLC0415 - optional: patched only where the bot has it
        except ImportError:
            return
        me = self

        class _Blocked(BlockedRequestError, httpx.ConnectError):
            def __init__(self, host: str, url: str, request: httpx.Request) -> None:
                BlockedRequestError.__init__(self, host, url)
                self._request = request

        def route(request: httpx.Request) -> httpx.Request:
            verdict = me.decide(request.url.host, str(request.url))
            if verdict == "block":
                raise _Blocked(request.url.host, str(request.url), request)
            if verdict == "route":
                request.headers[ORIGINAL_HOST_HEADER] = request.url.host
                request.url = request.url.copy_with(
                    scheme=me.api_scheme, host=me.api_host, port=me.api_port
                )
            return request

        sync_orig = httpx.HTTPTransport.handle_request
        async_orig = httpx.AsyncHTTPTransport.handle_async_request

        def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
            return sync_orig(self, route(request))

        async def handle_async_request(
            self: httpx.AsyncHTTPTransport, request: httpx.Request
        ) -> httpx.Response:
            return await async_orig(self, route(request))

        self._set(httpx.HTTPTransport, "handle_request", handle_request)
        self._set(httpx.AsyncHTTPTransport, "handle_async_request", handle_async_request)

    def _patch_aiohttp(self) -> None:
        try:
            import aiohttp  # noqa: PLC0415 - optional: patched only where the bot has it
        except ImportError:
            return
        me = self

        class _Blocked(BlockedRequestError, aiohttp.ClientConnectionError):
            pass

        orig = aiohttp.ClientSession._build_url

        def _build_url(self: aiohttp.ClientSession, str_or_url: Any) -> Any:
            url = orig(self, str_or_url)
            verdict = me.decide(url.host, str(url))
            if verdict == "block":
                raise _Blocked(url.host or "", str(url))
            if verdict == "route":
                scheme = me.api_scheme
                if url.scheme in ("ws", "wss"):
                    scheme = "ws"
                return url.with_scheme(scheme).with_host(me.api_host).with_port(me.api_port)
            return url

        self._set(aiohttp.ClientSession, "_build_url", _build_url)

    def _patch_sockets(self) -> None:
        me = self
        orig_getaddrinfo = socket.getaddrinfo
        orig_connect = socket.socket.connect
        orig_connect_ex = socket.socket.connect_ex

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if not is_loopback_host(host):
                name = host.decode() if isinstance(host, bytes) else str(host)
                me._block(name, f"(socket) {name}")
                raise socket.gaierror(
                    socket.EAI_NONAME,
                    f"bwsim blocked name resolution of {name!r}: tests may only reach loopback",
                )
            return orig_getaddrinfo(host, *args, **kwargs)

        def check(sock: socket.socket, address: Any) -> None:
            if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
                host = str(address[0])
                if not is_loopback_host(host):
                    me._block(host, f"(socket) {host}:{address[1]}")
                    raise BlockedRequestError(host, f"{host}:{address[1]}")

        def connect(self: socket.socket, address: Any) -> None:
            check(self, address)
            orig_connect(self, address)

        def connect_ex(self: socket.socket, address: Any) -> int:
            check(self, address)
            return orig_connect_ex(self, address)

        self._set(socket, "getaddrinfo", getaddrinfo)
        self._set(socket.socket, "connect", connect)
        self._set(socket.socket, "connect_ex", connect_ex)


def child_environment(api_base: str, violations_file: Path) -> dict[str, str]:
    """Environment variables that make a child Python process install the hooks at startup."""
    pythonpath = os.environ.get("PYTHONPATH", "")
    path = str(bootstrap_dir()) + (os.pathsep + pythonpath if pythonpath else "")
    config = {"api": api_base, "violations_file": str(violations_file)}
    return {"PYTHONPATH": path, ENV_VAR: json.dumps(config)}


def install_from_env() -> Interceptor | None:
    """Install the hooks from ``$BWSIM_INTERCEPT`` (used by the bootstrap ``sitecustomize``)."""
    raw = os.environ.get(ENV_VAR)
    if not raw:
        return None
    config = json.loads(raw)
    report_path = config.get("violations_file")

    def report(host: str, url: str) -> None:
        if not report_path:
            return
        line = json.dumps({"host": host, "url": url, "pid": os.getpid()})
        with Path(report_path).open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    return Interceptor(config["api"], on_blocked=report).install()
