"""Route a bot's hard-coded Bandwidth URLs to the fake, and refuse every other host.

Real bots (Bandwidth's Pipecat example included) call ``https://api.bandwidth.com/…``
and ``https://voice.bandwidth.com/…`` directly: pipecat-bandwidth's serializer through
aiohttp, bot code often through httpx, Bandwidth's own ``bandwidth-sdk`` through urllib3.
bwsim must test such a bot unchanged, and no test may ever reach the real Bandwidth or
any other real service. So, when bwsim starts or imports a bot, it installs these hooks:

- **httpx**: ``HTTPTransport.handle_request`` / ``AsyncHTTPTransport.handle_async_request``
  rewrite requests for Bandwidth hosts to the fake's loopback address. This is done at
  the transport, not with a respx mock, on purpose: the request really travels over HTTP
  to the fake server (which journals it), and a bot's own respx mocks keep working.
- **aiohttp**: ``ClientSession._build_url`` (every request and ``ws_connect`` passes
  through it) does the same rewrite.
- **urllib3** (and so ``requests`` and ``bandwidth-sdk``): ``HTTPConnection._new_conn``
  opens the socket to the fake instead, and ``HTTPSConnection.connect`` skips TLS for it;
  the request keeps its path and its ``Host`` header.
- **asyncio**: ``create_connection`` of the standard loop and of uvloop's ``Loop`` connect
  to the fake, without TLS (the fake speaks plain HTTP), so websockets, raw
  ``asyncio.open_connection`` and any protocol on top talk to the fake. uvloop resolves
  and connects in C and never calls the socket hooks below, so its ``getaddrinfo``,
  ``sock_connect`` and ``create_datagram_endpoint`` apply the same refusal.
- **sockets** (the backstop for any other client library): ``socket.getaddrinfo`` and
  ``socket.socket.connect`` refuse every non-loopback name and address.

A refused request raises an error naming the host (an ``httpx.ConnectError``,
``aiohttp.ClientConnectionError`` or urllib3 ``NewConnectionError`` subclass where those
libraries are used, so bots' own error handling sees a normal connection failure; a
``ConnectionError`` otherwise) and is reported as a violation. ``allow_hosts``
(``--allow-host``) names outside hosts the bot may reach (real speech providers): exact
names, or ``*.example.com`` for any name under it; the addresses an allowed name resolves
to are allowed too. Bandwidth's hosts stay faked whatever is allowed. A library's hooks
are installed when it is imported, so a process that never imports it does not load it.

This module imports only the standard library at load time, so a child process can load
it by file path from the bootstrap ``sitecustomize`` (``simulator/rest/_bootstrap``) even when
the child's environment does not have bwsim's dependencies.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

if __package__:
    from simulator.errors import BlockedRequestError
    from simulator.rest.hosts import (
        BANDWIDTH_HOSTS,
        PROXY_BYPASS,
        allowed_by,
        is_loopback_host,
    )
    from simulator.rest.hosts import host_name as _name
else:  # loaded by file path from the bootstrap, without the simulator package

    def _load(name: str, path: Path) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    _here = Path(__file__).resolve().parent
    _errors = _load("_bwsim_errors", _here.parent / "errors.py")
    _hosts = _load("_bwsim_hosts", _here / "hosts.py")
    BlockedRequestError = _errors.BlockedRequestError  # type: ignore[misc]
    BANDWIDTH_HOSTS = _hosts.BANDWIDTH_HOSTS
    PROXY_BYPASS = _hosts.PROXY_BYPASS
    allowed_by, is_loopback_host, _name = (
        _hosts.allowed_by,
        _hosts.is_loopback_host,
        _hosts.host_name,
    )

__all__ = [
    "BANDWIDTH_HOSTS",
    "ENV_VAR",
    "RESOLVE_ENV_VAR",
    "BlockedRequestError",
    "Interceptor",
    "bootstrap_dir",
    "child_environment",
    "install_from_env",
    "is_loopback_host",
]

ENV_VAR = "BWSIM_INTERCEPT"
RESOLVE_ENV_VAR = "BWSIM_INTERCEPT_RESOLVE"
"""JSON ``{"name": "127.0.0.1"}``: names the hooks resolve to a loopback address.

For tests only: it lets a test give a loopback server a name that is not loopback (a
stand-in for a speech provider), so ``allow_hosts`` is exercised by name. Every target
must be a loopback address, so the map cannot open a way out.
"""
ORIGINAL_HOST_HEADER = "x-bwsim-original-host"

ROUTE = "route"
PASS = "pass"  # noqa: S105 - a verdict, not a password
BLOCK = "block"


def bootstrap_dir() -> Path:
    """Folder to put first on a child's ``PYTHONPATH`` so it installs the hooks at startup."""
    return Path(__file__).resolve().parent / "_bootstrap"


class _AfterImport:
    """Runs a callback right after a module is first imported (installs a library's hook).

    A meta path finder (``importlib.abc`` is not imported for its base class: every
    millisecond here is paid by each Python process a bot starts). It finds the module
    through the other finders and wraps its loader's ``exec_module``, so the module loads
    exactly as it would have, and the callback sees it complete.
    """

    def __init__(self) -> None:
        self.pending: dict[str, Callable[[ModuleType], None]] = {}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        callback = self.pending.pop(fullname, None)
        if callback is None:
            return None
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        loader = spec.loader if spec is not None else None
        if spec is None or loader is None or isinstance(loader, type):
            self.pending[fullname] = callback  # not ours to wrap; try again on a later import
            return None
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            if module.__name__ == fullname:  # a loader may serve many modules (zipimport)
                vars(loader).pop("exec_module", None)
                original(module)
                callback(module)
            else:
                original(module)

        loader.exec_module = exec_module
        found: ModuleSpec = spec
        return found


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
        allow_hosts: Iterable[str] = (),
        resolve: Mapping[str, str] | None = None,
    ) -> None:
        parts = urlsplit(api_base)
        if parts.hostname is None or not is_loopback_host(parts.hostname):
            raise ValueError(f"api_base must be a loopback URL, got {api_base!r}")
        self.api_scheme = parts.scheme or "http"
        self.api_host = parts.hostname
        self.api_port = parts.port or (443 if self.api_scheme == "https" else 80)
        self.on_blocked = on_blocked
        self.block_sockets = block_sockets
        self.allow_hosts = frozenset(_name(h) for h in allow_hosts if _name(h))
        self.resolve = {_name(k): v for k, v in (resolve or {}).items()}
        for name, address in self.resolve.items():
            if not is_loopback_host(address):
                raise ValueError(f"resolve may only map names to loopback, got {name}={address}")
        self.blocked: list[tuple[str, str]] = []
        self.routed = 0
        self._allowed_addresses: set[str] = set()
        self._undo: list[Callable[[], None]] = []
        self._after_import = _AfterImport()

    # -- decisions ------------------------------------------------------------------

    def _block(self, host: str, url: str) -> None:
        self.blocked.append((host, url))
        if self.on_blocked is not None:
            try:
                self.on_blocked(host, url)
            except Exception as exc:  # noqa: BLE001 - reporting must never hide the refusal
                # Logged, not printed: with no logging set up, Python writes it to stderr.
                import logging  # noqa: PLC0415 - only here: not loaded at every start

                logging.getLogger(__name__).warning(
                    "bwsim: could not report a blocked request: %s", exc
                )

    def is_allowed(self, host: str | bytes | None) -> bool:
        """Whether ``host`` is an outside host the bot may reach (``allow_hosts``)."""
        return _name(host) in self._allowed_addresses or allowed_by(host, self.allow_hosts)

    def verdict(self, host: str | bytes | None) -> str:
        """``route`` (a Bandwidth host), ``pass`` (loopback or allowed) or ``block``."""
        name = _name(host)
        if name in BANDWIDTH_HOSTS:
            return ROUTE
        if is_loopback_host(name) or self.is_allowed(name):
            return PASS
        return BLOCK

    def decide(self, host: str | bytes | None, url: str) -> str:
        """Return ``route``, ``pass`` or ``block`` for ``host``; counts routes, reports blocks."""
        verdict = self.verdict(host)
        if verdict == ROUTE:
            self.routed += 1
        elif verdict == BLOCK:
            self._block(_name(host), url)
        return verdict

    def mapped(self, host: Any) -> Any:
        """``host``, or the loopback address ``resolve`` gives it."""
        if isinstance(host, str | bytes):
            return self.resolve.get(_name(host), host)
        return host

    def remember(self, host: Any, infos: Any) -> Any:
        """Allow the addresses an allowed name resolved to; returns ``infos`` unchanged."""
        if self.is_allowed(host) and _name(host) not in self._allowed_addresses:
            for info in infos:
                self._allowed_addresses.add(_name(str(info[4][0])))
        return infos

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
        sys.meta_path.insert(0, self._after_import)
        self._undo.append(self._remove_import_hook)
        self._when_imported("httpx", self._patch_httpx)
        self._when_imported("aiohttp", self._patch_aiohttp)
        self._when_imported("urllib3", self._patch_urllib3)
        self._when_imported("asyncio.base_events", self._patch_asyncio)
        self._when_imported("uvloop", self._patch_uvloop)
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

    def _remove_import_hook(self) -> None:
        self._after_import.pending.clear()
        if self._after_import in sys.meta_path:
            sys.meta_path.remove(self._after_import)

    def _when_imported(self, module_name: str, patch: Callable[[ModuleType], None]) -> None:
        """Run ``patch`` now if the module is loaded, else right after its first import."""

        def guarded(module: ModuleType) -> None:
            try:
                patch(module)
            except Exception as exc:  # noqa: BLE001 - reported: the guard is missing
                # A library whose internals changed must not run unguarded in silence.
                self._block(module_name, f"(bwsim could not hook {module_name}: {exc!r})")

        loaded = sys.modules.get(module_name)
        if loaded is not None:
            guarded(loaded)
        elif importlib.util.find_spec(module_name.partition(".")[0]) is not None:
            self._after_import.pending[module_name] = guarded

    def _set(self, owner: Any, name: str, value: Any) -> None:
        had_own = name in vars(owner)
        original = vars(owner).get(name)
        setattr(owner, name, value)
        if had_own:
            self._undo.append(lambda: setattr(owner, name, original))
        else:  # inherited (socket.socket.connect comes from _socket.socket): just remove ours
            self._undo.append(lambda: delattr(owner, name))

    def _patch_httpx(self, httpx: Any) -> None:
        me = self

        class _Blocked(BlockedRequestError, httpx.ConnectError):  # type: ignore[misc]
            def __init__(self, host: str, url: str, request: Any) -> None:
                BlockedRequestError.__init__(self, host, url)
                self._request = request

        def route(request: Any) -> Any:
            verdict = me.decide(request.url.host, str(request.url))
            if verdict == BLOCK:
                raise _Blocked(request.url.host, str(request.url), request)
            if verdict == ROUTE:
                request.headers[ORIGINAL_HOST_HEADER] = request.url.host
                request.url = request.url.copy_with(
                    scheme=me.api_scheme, host=me.api_host, port=me.api_port
                )
            return request

        sync_orig = httpx.HTTPTransport.handle_request
        async_orig = httpx.AsyncHTTPTransport.handle_async_request

        def handle_request(self: Any, request: Any) -> Any:
            return sync_orig(self, route(request))

        async def handle_async_request(self: Any, request: Any) -> Any:
            return await async_orig(self, route(request))

        self._set(httpx.HTTPTransport, "handle_request", handle_request)
        self._set(httpx.AsyncHTTPTransport, "handle_async_request", handle_async_request)

    def _patch_aiohttp(self, aiohttp: Any) -> None:
        me = self

        class _Blocked(BlockedRequestError, aiohttp.ClientConnectionError):  # type: ignore[misc]
            pass

        orig = aiohttp.ClientSession._build_url

        def _build_url(self: Any, str_or_url: Any) -> Any:
            url = orig(self, str_or_url)
            verdict = me.decide(url.host, str(url))
            if verdict == BLOCK:
                raise _Blocked(url.host or "", str(url))
            if verdict == ROUTE:
                scheme = me.api_scheme
                if url.scheme in ("ws", "wss"):
                    scheme = "ws"
                return url.with_scheme(scheme).with_host(me.api_host).with_port(me.api_port)
            return url

        self._set(aiohttp.ClientSession, "_build_url", _build_url)

    def _patch_urllib3(self, urllib3: Any) -> None:
        """Route urllib3's connections (requests, bandwidth-sdk) at the socket they open.

        The connection keeps its host, so the request's ``Host`` header and path are the
        bot's own; only the socket goes to the fake, and an HTTPS connection to a
        Bandwidth host skips TLS, since the fake speaks plain HTTP.
        """
        me = self
        connection = urllib3.connection
        new_connection_error = urllib3.exceptions.NewConnectionError

        class _Blocked(BlockedRequestError, new_connection_error):  # type: ignore[misc,valid-type]
            def __init__(self, conn: Any, host: str, url: str) -> None:
                BlockedRequestError.__init__(self, host, url)
                self.conn = conn
                self._message = str(self)

        orig_new_conn = connection.HTTPConnection._new_conn
        orig_https_connect = connection.HTTPSConnection.connect
        plain_connect = connection.HTTPConnection.connect

        def _new_conn(self: Any) -> Any:
            scheme = "https" if isinstance(self, connection.HTTPSConnection) else "http"
            url = f"{scheme}://{self.host}:{self.port}"
            verdict = me.decide(self.host, url)
            if verdict == BLOCK:
                raise _Blocked(self, _name(self.host), url)
            if verdict == PASS:
                return orig_new_conn(self)
            # Connect to the fake, then give the connection back its own host and port.
            host, port = self._dns_host, self.port
            self._dns_host, self.port = me.api_host, me.api_port
            try:
                return orig_new_conn(self)
            finally:
                self._dns_host, self.port = host, port

        def https_connect(self: Any) -> None:
            if me.verdict(self.host) != ROUTE:
                orig_https_connect(self)
                return
            plain_connect(self)
            # The fake stands in for a verified Bandwidth: no "unverified HTTPS" warning.
            self.is_verified = True

        self._set(connection.HTTPConnection, "_new_conn", _new_conn)
        self._set(connection.HTTPSConnection, "connect", https_connect)

    def _connection_target(
        self, host: Any, port: Any, kwargs: dict[str, Any]
    ) -> tuple[Any, Any, dict[str, Any]]:
        """Where an asyncio ``create_connection`` really goes; raises if it is refused."""
        if host is None:
            return host, port, kwargs
        scheme = "tls" if kwargs.get("ssl") else "tcp"
        url = f"({scheme}) {_name(host)}:{port}"
        tls_name = kwargs.get("server_hostname")
        if self.verdict(host) == BLOCK and tls_name and self.is_allowed(tls_name):
            # A client that resolved an allowed name itself (aiodns) connects by address
            # and names the host for TLS: the name decides.
            verdict = PASS
        else:
            verdict = self.decide(host, url)
        if verdict == BLOCK:
            raise BlockedRequestError(_name(host), url)
        if verdict == PASS:
            return self.mapped(host), port, kwargs
        routed = dict(kwargs)
        routed["ssl"] = None
        for key in ("server_hostname", "ssl_handshake_timeout", "ssl_shutdown_timeout"):
            routed.pop(key, None)
        return self.api_host, self.api_port, routed

    def _check_address(self, address: Any, what: str) -> Any:
        """Refuse an outside ``(host, port)`` a socket-level call names; returns it mapped."""
        if not isinstance(address, tuple) or not address:
            return address
        host = address[0]
        url = f"({what}) {_name(host)}:{address[1] if len(address) > 1 else ''}"
        if self.verdict(host) != PASS:  # a raw socket to Bandwidth cannot be routed either
            self._block(_name(host), url)
            raise BlockedRequestError(_name(host), url)
        return (self.mapped(host), *address[1:])

    def _patch_asyncio(self, base_events: Any) -> None:
        """The standard loop's ``create_connection``: route Bandwidth hosts, refuse others.

        Everything else the standard loop does goes through the socket hooks.
        """
        me = self
        orig = base_events.BaseEventLoop.create_connection

        async def create_connection(
            self: Any, protocol_factory: Any, host: Any = None, port: Any = None, **kwargs: Any
        ) -> Any:
            host, port, kwargs = me._connection_target(host, port, kwargs)
            return await orig(self, protocol_factory, host, port, **kwargs)

        self._set(base_events.BaseEventLoop, "create_connection", create_connection)

    def _patch_uvloop(self, uvloop: Any) -> None:
        """Guard ``uvloop.Loop``: it resolves and connects in C, past the socket hooks.

        ``uvloop.Loop`` is a Python subclass of the compiled loop, and every way to get a
        uvloop loop (``new_event_loop``, ``EventLoopPolicy``, ``run``, uvicorn) builds it,
        so its methods are replaced on that class.
        """
        me = self
        loop_class = uvloop.Loop
        orig_create_connection = loop_class.create_connection
        orig_getaddrinfo = loop_class.getaddrinfo
        orig_sock_connect = loop_class.sock_connect
        orig_datagram = loop_class.create_datagram_endpoint

        async def create_connection(
            self: Any, protocol_factory: Any, host: Any = None, port: Any = None, **kwargs: Any
        ) -> Any:
            host, port, kwargs = me._connection_target(host, port, kwargs)
            return await orig_create_connection(self, protocol_factory, host, port, **kwargs)

        async def getaddrinfo(self: Any, host: Any, port: Any, **kwargs: Any) -> Any:
            me._check_resolvable(host)
            infos = await orig_getaddrinfo(self, me.mapped(host), port, **kwargs)
            return me.remember(host, infos)

        async def sock_connect(self: Any, sock: Any, address: Any) -> Any:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                address = me._check_address(address, "socket")
            return await orig_sock_connect(self, sock, address)

        async def create_datagram_endpoint(
            self: Any,
            protocol_factory: Any,
            local_addr: Any = None,
            remote_addr: Any = None,
            **kwargs: Any,
        ) -> Any:
            remote_addr = me._check_address(remote_addr, "udp")
            return await orig_datagram(self, protocol_factory, local_addr, remote_addr, **kwargs)

        self._set(loop_class, "create_connection", create_connection)
        self._set(loop_class, "getaddrinfo", getaddrinfo)
        self._set(loop_class, "sock_connect", sock_connect)
        self._set(loop_class, "create_datagram_endpoint", create_datagram_endpoint)

    def _check_resolvable(self, host: Any) -> None:
        """Refuse to resolve an outside name (Bandwidth's too: only clients are routed)."""
        if self.verdict(host) == PASS:
            return
        name = _name(host)
        self._block(name, f"(socket) {name}")
        raise socket.gaierror(
            socket.EAI_NONAME,
            f"bwsim blocked name resolution of {name!r}: tests may only reach loopback "
            "and the hosts named with --allow-host",
        )

    def _patch_sockets(self) -> None:
        me = self
        orig_getaddrinfo = socket.getaddrinfo
        orig_connect = socket.socket.connect
        orig_connect_ex = socket.socket.connect_ex

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            me._check_resolvable(host)
            return me.remember(host, orig_getaddrinfo(me.mapped(host), *args, **kwargs))

        def check(sock: socket.socket, address: Any) -> Any:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                return me._check_address(address, "socket")
            return address

        def connect(self: socket.socket, address: Any) -> None:
            orig_connect(self, check(self, address))

        def connect_ex(self: socket.socket, address: Any) -> int:
            return orig_connect_ex(self, check(self, address))

        self._set(socket, "getaddrinfo", getaddrinfo)
        self._set(socket.socket, "connect", connect)
        self._set(socket.socket, "connect_ex", connect_ex)


def child_environment(
    api_base: str, violations_file: Path, *, allow_hosts: Iterable[str] = ()
) -> dict[str, str]:
    """Environment variables that make a child Python process install the hooks at startup.

    ``NO_PROXY`` gains :data:`~simulator.rest.hosts.PROXY_BYPASS` (Bandwidth's hosts and
    loopback), after what this process's ``NO_PROXY`` already names.
    """
    pythonpath = os.environ.get("PYTHONPATH", "")
    path = str(bootstrap_dir()) + (os.pathsep + pythonpath if pythonpath else "")
    config: dict[str, Any] = {"api": api_base, "violations_file": str(violations_file)}
    allowed = sorted({_name(h) for h in allow_hosts if _name(h)})
    if allowed:
        config["allow_hosts"] = allowed
    no_proxy = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    no_proxy = ",".join([*filter(None, no_proxy.split(",")), *PROXY_BYPASS])
    env = {"PYTHONPATH": path, ENV_VAR: json.dumps(config)}
    return env | {"NO_PROXY": no_proxy, "no_proxy": no_proxy}


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

    resolve = json.loads(os.environ.get(RESOLVE_ENV_VAR) or "{}")
    return Interceptor(
        config["api"],
        on_blocked=report,
        allow_hosts=config.get("allow_hosts", ()),
        resolve=resolve,
    ).install()
