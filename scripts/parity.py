"""Generate docs/parity.md: what bwsim simulates of Bandwidth's Voice API, webhooks and BXML.

Run from the repository root::

    python -m scripts.parity           # rewrite docs/parity.md
    python -m scripts.parity --check   # exit 1 if docs/parity.md is not what it would write

The operations and webhooks come from Bandwidth's OpenAPI description
(docs/specs/bandwidth.yml); what bwsim does with each comes from the code: the fake's own
router (:func:`simulator.rest.voice_api.classify`) says which operations it serves,
:mod:`simulator.rest.unsimulated` which ones it answers "not simulated", the webhook
builders which ``eventType`` values bwsim sends, :mod:`simulator.protocol.bxml` and
:mod:`simulator.protocol.verbs` which verbs it accepts and runs. The settings for what
Bandwidth does not document are docs/bandwidth.md §6's table, read from there. Only the
"what differs" sentences are hand-written, in ``scripts/parity_notes.py``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from scripts.parity_notes import CALLBACK_NOTES, OPERATION_NOTES, TOKEN_NOTE, VERB_NOTES
from simulator.call.options import CallOptions
from simulator.protocol import verbs
from simulator.protocol.bxml import DOCUMENTED_VERBS
from simulator.rest.fake import FakeSettings
from simulator.rest.routes import Route
from simulator.rest.unsimulated import UNSIMULATED_OPERATIONS
from simulator.rest.voice_api import classify

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "docs" / "specs" / "bandwidth.yml"
FACTS = ROOT / "docs" / "bandwidth.md"
PAGE = ROOT / "docs" / "parity.md"
COMMAND = "python -m scripts.parity"
VOICE_HOST = "voice.bandwidth.com"
METHODS = ("get", "post", "put", "delete", "patch")
SETTING_CLASSES: dict[str, type[Any]] = {"FakeSettings": FakeSettings, "CallOptions": CallOptions}
"""The classes a §6 setting may name, to check that each named field exists."""


class ParityError(Exception):
    """The spec, the code and the notes disagree; the message says where."""


@dataclass(frozen=True)
class Operation:
    """One operation of the spec."""

    operation_id: str
    method: str
    path: str
    tag: str
    server: str


def load_spec(path: Path = SPEC) -> dict[str, Any]:
    """The OpenAPI document, parsed."""
    spec: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return spec


def voice_operations(spec: dict[str, Any]) -> list[Operation]:
    """Every operation served from the Voice API's host, in the spec's order."""
    found = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            servers = op.get("servers") or item.get("servers") or spec.get("servers") or []
            url = str(servers[0]["url"]) if servers else ""
            if urlsplit(url).hostname != VOICE_HOST:
                continue
            tags = op.get("tags") or ["(untagged)"]
            found.append(Operation(op["operationId"], method.upper(), path, tags[0], url))
    return found


def _concrete(server: str, template: str) -> str:
    """A request path for ``template`` on ``server``, each parameter a sample value."""
    return urlsplit(server).path.rstrip("/") + re.sub(r"\{([^}]+)\}", r"sample-\1", template)


def served_route(method: str, path: str) -> Route | None:
    """The fake's route for a request, or None when its router does not serve it."""
    route = classify(method, path)[0]
    return None if route in (Route.UNROUTED, Route.METHOD_NOT_ALLOWED) else Route(route)


def sent_events(package: Path = ROOT / "simulator") -> set[str]:
    """Every webhook ``eventType`` the simulator's code builds.

    A body is built by ``_common(info, "<event>", …)`` or ``_stream_common(…)`` in
    :mod:`simulator.protocol.webhook_bodies`, or by setting ``body["eventType"] = "<event>"``.
    """
    events: set[str] = set()
    for file in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("_common", "_stream_common")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                events.add(node.args[1].value)
            elif (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
                and any(
                    isinstance(t, ast.Subscript)
                    and isinstance(t.slice, ast.Constant)
                    and t.slice.value == "eventType"
                    for t in node.targets
                )
            ):
                events.add(node.value.value)
    return events


def run_verbs() -> set[str]:
    """The verbs :func:`simulator.protocol.verbs.plan` turns into steps bwsim runs.

    They are the ``case "<Verb>":`` branches of ``verbs._step``; every other documented
    verb falls to its ``case _:`` and becomes an ``Unsimulated`` step (noted, skipped).
    """
    tree = ast.parse(inspect.getsource(verbs._step))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.MatchValue) and isinstance(node.value, ast.Constant):
            names.add(str(node.value.value))
    return names


def settings_table(text: str) -> list[list[str]]:
    """The rows of docs/bandwidth.md §6's table (behaviour, default, setting), checked."""
    section = text.split("\n## 6.", 1)
    if len(section) != 2:
        raise ParityError(f"{FACTS.name} has no section 6")
    rows: list[list[str]] = []
    for line in section[1].splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "behaviour" or set(cells[0]) <= {"-"}:
            continue
        rows.append(cells)
    for row in rows:
        for name, field in re.findall(r"`(\w+)\.(\w+)`", row[-1]):
            known = SETTING_CLASSES.get(name)
            if known is None or field not in {f.name for f in dataclasses.fields(known)}:
                raise ParityError(f"{FACTS.name} §6 names {name}.{field}, which does not exist")
    return rows


def fixed_choices(text: str) -> str:
    """The paragraph of docs/bandwidth.md §6 on the choices no setting changes."""
    section = text.split("\n## 6.", 1)[1]
    paragraph = section.split("Fixed choices", 1)[1].split("\n\n", 1)[0]
    return " ".join(("Fixed choices" + paragraph).split())


def _row(*cells: str) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def operation_rows(spec: dict[str, Any]) -> Iterator[str]:
    """The table of the OAuth token endpoint and every Voice operation, checked both ways."""
    unsimulated = {op: (method, path) for method, path, op in UNSIMULATED_OPERATIONS}
    token_url = spec["components"]["securitySchemes"]["OAuth2"]["flows"]["clientCredentials"]
    token_path = urlsplit(token_url["tokenUrl"]).path
    if served_route("POST", token_path) is not Route.TOKEN:
        raise ParityError(f"the fake does not serve the spec's tokenUrl POST {token_path}")
    status, note = TOKEN_NOTE
    yield _row("(OAuth2 `tokenUrl`)", f"`POST {token_path}`", "OAuth", f"**{status}**", note)
    seen = set()
    for op in voice_operations(spec):
        seen.add(op.operation_id)
        route = served_route(op.method, _concrete(op.server, op.path))
        where = f"`{op.method} {op.path}`"
        if route is not None:
            if op.operation_id not in OPERATION_NOTES:
                raise ParityError(
                    f"the fake serves {op.operation_id} (route {route}): give it a status "
                    "and a note in scripts/parity_notes.py OPERATION_NOTES"
                )
            status, note = OPERATION_NOTES[op.operation_id]
            yield _row(f"`{op.operation_id}`", where, op.tag, f"**{status}**", note)
            continue
        if op.operation_id in OPERATION_NOTES:
            raise ParityError(
                f"scripts/parity_notes.py calls {op.operation_id} served, but the fake's router "
                f"does not route {op.method} {op.path}"
            )
        if unsimulated.get(op.operation_id) != (op.method, op.path):
            raise ParityError(
                f"{op.operation_id} ({op.method} {op.path}) is neither served nor listed in "
                "simulator/rest/unsimulated.py UNSIMULATED_OPERATIONS"
            )
        yield _row(
            f"`{op.operation_id}`",
            where,
            op.tag,
            "not simulated",
            "Answered `501` `not-simulated` naming the operation; a violation.",
        )
    stale = (set(unsimulated) | set(OPERATION_NOTES)) - seen
    if stale:
        raise ParityError(f"not Voice operations of the spec: {', '.join(sorted(stale))}")


def callback_rows(spec: dict[str, Any], sent: set[str]) -> Iterator[str]:
    """The table of every voice webhook: the spec's ``*Callback`` schemas, then bwsim's extras."""
    schemas = spec["components"]["schemas"]
    documented = [
        name.removesuffix("Callback")
        for name, schema in schemas.items()
        if name.endswith("Callback") and "eventType" in (schema.get("properties") or {})
    ]
    for event in documented:
        status = "**sent**" if event in sent else "not sent"
        yield _row(f"`{event}`", f"`{event}Callback`", status, CALLBACK_NOTES.get(event, ""))
    for event in sorted(sent - set(documented)):
        yield _row(f"`{event}`", "(none)", "**sent**", CALLBACK_NOTES.get(event, ""))
    unknown = set(CALLBACK_NOTES) - set(documented) - sent
    if unknown:
        raise ParityError(f"notes for webhooks neither in the spec nor sent: {sorted(unknown)}")


def verb_rows(run: set[str]) -> Iterator[str]:
    """The table of every BXML verb Bandwidth documents."""
    unknown = (set(VERB_NOTES) | run) - DOCUMENTED_VERBS
    if unknown:
        raise ParityError(f"verbs bwsim does not accept as documented: {sorted(unknown)}")
    for verb in sorted(DOCUMENTED_VERBS):
        status = "**simulated**" if verb in run else "noted and skipped"
        yield _row(f"`<{verb}>`", status, VERB_NOTES.get(verb, ""))


def render(spec: dict[str, Any] | None = None, facts: str | None = None) -> str:
    """The text of docs/parity.md."""
    spec = load_spec() if spec is None else spec
    facts = FACTS.read_text(encoding="utf-8") if facts is None else facts
    info = spec["info"]
    lines = [
        "# Parity with Bandwidth: what bwsim simulates",
        "",
        f"Generated by `{COMMAND}` from Bandwidth's OpenAPI description",
        f"(docs/specs/bandwidth.yml, {info['title']} {info['version']}, OpenAPI "
        f"{spec['openapi']}) and from bwsim's code; do not edit by hand. The hand-written "
        "notes are in `scripts/parity_notes.py`; the protocol facts behind them are in "
        "docs/bandwidth.md.",
        "",
        "## Voice API operations",
        "",
        "Every operation on the Voice API's host, and the OAuth token endpoint. **simulated**:",
        "modelled as documented, with the differences noted; **partly**: served, with the",
        "parts noted missing; not simulated: answered `501` with a `not-simulated` error",
        "naming the operation, recorded as a violation so that a test relying on it fails.",
        "",
        _row("operation", "request", "tag", "bwsim", "what differs"),
        _row("---", "---", "---", "---", "---"),
        *operation_rows(spec),
        "",
        "## Voice webhooks",
        "",
        "Every voice callback schema of the spec (`components/schemas/*Callback` with an",
        "`eventType`), then the webhooks bwsim sends that the spec has no schema for.",
        "tests/unit/test_webhook_schemas.py checks bwsim's bodies against these schemas.",
        "",
        _row("eventType", "schema", "bwsim", "what differs"),
        _row("---", "---", "---", "---"),
        *callback_rows(spec, sent_events()),
        "",
        "## BXML verbs",
        "",
        "Every verb Bandwidth documents. **simulated**: run as docs/bandwidth.md §3 says;",
        "noted and skipped: accepted, recorded in the call's trace, then passed over (a bot",
        "that depends on it is not tested by bwsim). Any other element is refused as",
        "`invalid-bxml`.",
        "",
        _row("verb", "bwsim", "what differs"),
        _row("---", "---", "---"),
        *verb_rows(run_verbs()),
        "",
        "## What Bandwidth does not document, and the setting for each",
        "",
        "From docs/bandwidth.md §6 (section marks below are of that document).",
        "",
        _row("behaviour", "bwsim's default", "setting"),
        _row("---", "---", "---"),
        *(_row(*row) for row in settings_table(facts)),
        "",
        fixed_choices(facts),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write docs/parity.md, or with ``--check`` say whether it is current (exit 1 if not)."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    try:
        text = render()
    except ParityError as err:
        print(f"{COMMAND}: {err}", file=sys.stderr)
        return 2
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.is_file() else ""
        if current != text:
            print(f"docs/parity.md is stale: run {COMMAND}", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
