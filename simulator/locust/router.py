"""One Voice API address for a bot whose calls come from many Locust workers.

The bot under test is given one ``BANDWIDTH_OAUTH_URL``/``BANDWIDTH_VOICE_API_URL`` (and
``BWSIM_CONTROL_URL``), but each call lives in the fake Bandwidth of the worker that placed
it. The router is that one address: every worker registers its fake's URL and its tag (the
first field of every call id it mints, ``c-<tag>-<uuid4>``), and the router sends each
request that names a call (``…/calls/{callId}…``, the Voice API's and the control API's
``/_bwsim/calls/{callId}/caller-lines``) to the worker that owns it. Token requests
(``POST /api/v1/oauth2/token``) and the requests that name no call go to the first worker
that registered, which checks the client credentials as Bandwidth would.

A token is issued by one worker's fake but used on calls of every worker: the router
remembers the tokens it handed out and, on a request for another worker's call, puts that
worker's own token (given when it registered) in place of it. A token the router never
handed out is passed on as it is, so the owner refuses it (401) as Bandwidth would.

The routing itself (who owns a call, the token put in its place, the forwarding and the
errors the router answers) is :mod:`simulator.rest.call_router`'s, shared with the router
of ``bwsim load --processes``; what is this router's own is who the owners are (the
workers that registered) and that a request naming no call goes to the first of them.

Workers register with ``POST /_bwsim/router/workers`` (JSON ``tag``, ``url``, ``token``),
carrying the run's control token (``Authorization: Bearer $BWSIM_CONTROL_TOKEN``).

Run it next to the bot with ``python -m simulator.locust.router --port 9050`` or inside
the Locust master with ``--bwsim-router-port 9050``. Run on its own, after its
``listening on`` line it prints the bot's shell ``export`` lines (and writes them to
``--env-file``), as ``bwsim serve`` does (:mod:`simulator.runner.exports`): the three
URLs, and the interception's ``PYTHONPATH``/``BWSIM_INTERCEPT``, so that a Python bot
whose Bandwidth URLs are hard-coded (the Pipecat guide's, pipecat-bandwidth's serializer)
reaches the router unchanged instead of the real Bandwidth. The requests to other hosts
the bot was refused are said on stderr as they happen (the interception's violations
file is in a temporary folder the router removes when it stops). The interception routes
only to a loopback address, and its bootstrap folder is a path on this machine: the bot
must run here. The exports name the router at :func:`bot_url`; for a URL that is not
loopback (``--advertise-url``, or a ``--host`` of another interface) they carry the URLs
alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import os
import re
import signal
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from simulator.cli.allow_host import add_allow_host
from simulator.errors import ConfigError, TargetError
from simulator.rest.call_router import TIMEOUT_S, Forwarder, Owner, call_id_in, call_tag, refuse
from simulator.rest.control_guard import TOKEN_VAR
from simulator.rest.hosts import host_name, is_loopback_host
from simulator.rest.intercept import child_environment
from simulator.rest.relay import Receive, Scope, Send, answer, lifespan, read_body, scope_headers
from simulator.rest.routes import Route
from simulator.rest.voice_api import classify
from simulator.runner.bot_env import PROXY_HOST, STANDINS_VAR, standins_setting, url_variables
from simulator.runner.exports import export_lines, report_refused, write_env_file
from simulator.runner.servers import serve

__all__ = [
    "READY_LINE",
    "REGISTER_PATH",
    "Router",
    "WorkerEntry",
    "bot_export_lines",
    "bot_url",
    "main",
    "register_worker",
]

REGISTER_PATH = "/_bwsim/router/workers"
READY_LINE = "# bwsim router: ready"
"""The last of the export lines the router prints: a script reading them waits for it."""
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - bind addresses


@dataclass(frozen=True)
class WorkerEntry:
    """A registered worker: its tag, its fake's base URL, a token of its fake."""

    tag: str
    url: str
    token: str

    def owner(self) -> Owner:
        """The worker as an owner of calls (those whose ids start with its tag)."""
        return Owner(f"Locust worker {self.tag}", self.url, self.token)


@dataclass
class Router:
    """The ASGI app of the router (see the module docstring)."""

    control_token: str
    workers: dict[str, WorkerEntry] = field(default_factory=dict)
    handed_out: set[str] = field(default_factory=set)
    """Tokens a worker issued through the router: replaced by the owner's on each call."""
    _forwarder: Forwarder = field(default_factory=Forwarder)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection: lifespan, or an HTTP request passed on."""
        if scope["type"] == "lifespan":
            await lifespan(receive, send, self._forwarder.aclose)
            return
        if scope["type"] != "http":
            return  # the Voice API has no websockets: uvicorn refuses the upgrade
        body = await read_body(receive)
        if body is None:
            return
        if scope["path"] == REGISTER_PATH:
            await self._register(scope, body, send)
            return
        if not self.workers:
            await refuse(
                send,
                503,
                "no Locust worker has registered with the router yet: start the workers "
                "with --bwsim-router set to this router's URL, then try again",
            )
            return
        tag = call_tag(call_id_in(scope["path"]))
        worker = self.workers.get(tag) if tag else next(iter(self.workers.values()))
        if worker is None:
            await refuse(
                send,
                404,
                f"no registered worker owns calls tagged {tag}: the worker that placed the "
                "call has not registered with this router (or has been replaced)",
            )
            return
        look = (
            self._learn_token
            if classify(scope["method"], scope["path"])[0] == Route.TOKEN
            else None
        )
        await self._forwarder.pass_on(
            worker.owner(), scope, body, send, ours=self.handed_out.__contains__, look=look
        )

    def _learn_token(self, reply: httpx.Response) -> None:
        """Remember a token a worker issued, so that it is replaced on other workers' calls."""
        if reply.status_code == 200:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                self.handed_out.add(str(reply.json()["access_token"]))

    async def _register(self, scope: Scope, body: bytes, send: Send) -> None:
        if scope["method"] != "POST":
            await refuse(send, 405, f"{REGISTER_PATH} takes POST")
            return
        given = dict(scope_headers(scope)).get("authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), self.control_token.encode()):
            await refuse(send, 401, f"registering needs Authorization: Bearer ${TOKEN_VAR}")
            return
        try:
            data = json.loads(body)
            entry = WorkerEntry(str(data["tag"]), str(data["url"]).rstrip("/"), str(data["token"]))
        except (ValueError, KeyError, TypeError):
            await refuse(send, 400, "the body must be JSON with tag, url and token")
            return
        if not re.fullmatch(r"[0-9a-f]{8}", entry.tag):
            await refuse(send, 400, f"a tag is 8 lower-case hex digits, not {entry.tag!r}")
            return
        self.workers[entry.tag] = entry
        await answer(send, 200, [("content-type", "application/json")], b'{"registered": true}')


async def register_worker(router_url: str, control_token: str, entry: WorkerEntry) -> None:
    """Register a worker's fake with the router at ``router_url``; raise if it refuses."""
    async with httpx.AsyncClient(timeout=TIMEOUT_S, trust_env=False) as client:
        reply = await client.post(
            router_url.rstrip("/") + REGISTER_PATH,
            json={"tag": entry.tag, "url": entry.url, "token": entry.token},
            headers={"Authorization": f"Bearer {control_token}"},
        )
    if reply.status_code == 401:
        raise RuntimeError(
            f"the router at {router_url} refused this worker's {TOKEN_VAR}: export the same "
            "value for the router, every worker and the bot"
        )
    if reply.status_code != 200:
        raise RuntimeError(
            f"the router at {router_url} refused this worker ({reply.status_code}: "
            f"{reply.text[:200]}): is it the router's address, http://HOST:PORT?"
        )


def bot_url(host: str, port: int, advertise: str = "") -> str:
    """The router's URL in the bot's exports: ``advertise``, else where it listens.

    A wildcard ``host`` (0.0.0.0, ::) becomes 127.0.0.1: the bot runs on this machine.
    """
    if advertise:
        return advertise.rstrip("/")
    name = host_name(host)
    name = "127.0.0.1" if name in _WILDCARD_HOSTS else name
    return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"


def bot_export_lines(url: str, violations_file: Path, allow_hosts: Iterable[str] = ()) -> list[str]:
    """The bot's ``export`` lines for the router at ``url``; they end with :data:`READY_LINE`.

    The router's URLs, ``PROXY_HOST`` (any name does: each worker sends the media stream
    to Locust's ``--host``) and :data:`STANDINS_VAR`, as ``bwsim serve`` gives them. With a
    loopback ``url`` they carry the interception (which lets the bot reach
    ``allow_hosts`` too), whose refusals the bot's processes append to
    ``violations_file``; otherwise not.
    """
    intercept = (
        child_environment(url, violations_file, allow_hosts=allow_hosts) if _loopback(url) else None
    )
    variables = {
        **url_variables(url),
        "PROXY_HOST": PROXY_HOST,
        STANDINS_VAR: standins_setting(),
    }
    return export_lines(variables, intercept, READY_LINE)


def _loopback(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname or "?")


def _say(message: str) -> None:
    print(f"bwsim router: {message}", file=sys.stderr, flush=True)


async def _serve_forever(router: Router, args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    with tempfile.TemporaryDirectory(prefix="bwsim-router-") as tmp:
        violations = Path(tmp) / "refused.jsonl"
        env_file: Path | None = args.env_file
        async with serve(router, host=args.host, port=args.port) as api:
            # The bound address (``--port 0`` takes any free port), for people and scripts.
            print(f"bwsim router: listening on {api.base_url}", flush=True)
            url = bot_url(args.host, api.port, args.advertise_url or "")
            lines = bot_export_lines(url, violations, args.allow_hosts)
            if env_file is not None:
                write_env_file(env_file, lines)
            print("\n".join(lines), flush=True)
            _tell(url, env_file)
            await report_refused(violations, stop, _say, routed_to="the router")


def _tell(url: str, env_file: Path | None) -> None:
    """Say on stderr how to start the bot with the exports."""
    where = f"`. {env_file}`" if env_file is not None else "the export lines above"
    _say(f"start the bot in a shell with {where}: its Voice API requests reach {url}")
    if not _loopback(url):
        _say(
            f"{url} is not a loopback address, so the exports carry no interception "
            "(PYTHONPATH, BWSIM_INTERCEPT): only a bot that reads BANDWIDTH_OAUTH_URL and "
            "BANDWIDTH_VOICE_API_URL reaches the router; a bot with hard-coded Bandwidth "
            "URLs must run on this machine, given the exports of a loopback URL (the default)"
        )


def _advertise_url(value: str) -> str:
    """``--advertise-url``: http(s)://HOST[:PORT], no path; argparse says why not otherwise."""
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - parsed for its ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} has no valid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
        raise argparse.ArgumentTypeError(
            f"expected the router's address alone, http://HOST:PORT, got {value!r}"
        )
    return value


def main(argv: list[str] | None = None) -> int:
    """``python -m simulator.locust.router``: serve the router until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator.locust.router",
        description="One Voice API address for the bot; each call's requests go to the "
        "Locust worker that placed it. After the `listening on` line, stdout has the "
        "bot's `export` lines (source them in the bot's shell): the router's URLs, and "
        "PYTHONPATH/BWSIM_INTERCEPT, which route a Python bot's hard-coded "
        "api.bandwidth.com/voice.bandwidth.com requests to the router and refuse other "
        "hosts (the bot runs on this machine).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=9050, help="port to listen on (9050; 0: any)")
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="PATH",
        help="also write the export lines to PATH (for `. PATH`); removed when the router stops",
    )
    parser.add_argument(
        "--advertise-url",
        type=_advertise_url,
        metavar="URL",
        help="the router's address in the bot's exports (default: http://HOST:PORT as "
        "bound, 127.0.0.1 for a wildcard --host such as 0.0.0.0). Only a loopback URL "
        "carries the interception for hard-coded Bandwidth URLs",
    )
    add_allow_host(
        parser,
        "let a bot started with the exports reach HOST, e.g. a real speech provider "
        "such as api.deepgram.com (repeatable; *.example.com allows every name under it). "
        "Bandwidth's hosts go to the router; every other host stays refused",
    )
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_VAR)
    if not token:
        print(
            f"bwsim router: error: set {TOKEN_VAR} (the same value for the workers and the "
            "bot): workers register with it",
            file=sys.stderr,
        )
        return 2
    env_file: Path | None = args.env_file
    if env_file is not None:
        env_file.unlink(missing_ok=True)  # a file from an earlier run names a router that is gone
    try:
        asyncio.run(_serve_forever(Router(token), args))
    except KeyboardInterrupt:
        return 0
    except (TargetError, ConfigError) as exc:
        print(f"bwsim router: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if env_file is not None:
            env_file.unlink(missing_ok=True)  # it names a router that is gone
    return 0


if __name__ == "__main__":
    sys.exit(main())
