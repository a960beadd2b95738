"""The exceptions bwsim raises, under one root.

The tree::

    SimulatorError
    ├── ConfigError                 the run could not be made (exit code 2)
    │   ├── ScenarioError           a scenario file is malformed (file, line, key)
    │   ├── AudioFileError          an audio file cannot be read or decoded
    │   └── TargetError             the bot did not start, or does not answer
    ├── BlockedRequestError         code under test tried to reach a non-loopback host
    └── BotMisbehaved (also AssertionError: pytest shows it as a failure, not a crash)
        ├── ProtocolViolation       the bot broke the Bandwidth wire contract
        ├── UnexpectedApiRequest    the bot sent a REST request Bandwidth would not accept
        ├── ExpectationFailed       a call did not show what a test expected of it
        └── CallTimeout             something the bot had to do did not happen in time

Every error carries its facts as attributes and says in its message what went wrong and
what to do about it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AudioFileError",
    "BlockedRequestError",
    "BotMisbehaved",
    "CallTimeout",
    "ConfigError",
    "ExpectationFailed",
    "ProtocolViolation",
    "ScenarioError",
    "SimulatorError",
    "TargetError",
    "UnexpectedApiRequest",
]


class SimulatorError(Exception):
    """Root of every error bwsim raises on purpose."""


class ConfigError(SimulatorError):
    """The run could not be made: bad input, or a target that cannot be reached."""


class ScenarioError(ConfigError):
    """A scenario file is malformed; names the file, the line and the key at fault."""

    def __init__(
        self, message: str, *, path: Path | str, line: int | None = None, key: str | None = None
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.key = key
        self.reason = message
        super().__init__(message)

    def __str__(self) -> str:
        where = str(self.path)
        if self.line is not None:
            where += f":{self.line}"
        if self.key:
            where += f": {self.key}"
        return f"{where}: {self.reason}"


class AudioFileError(ConfigError):
    """An audio file cannot be read or decoded."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot use audio file {str(self.path)!r}: {reason}")


class TargetError(ConfigError):
    """The bot under test did not start, or does not answer."""


class BlockedRequestError(SimulatorError, ConnectionError):
    """Code under test tried to reach a host outside loopback; bwsim refused it."""

    def __init__(self, host: str, url: str | None = None) -> None:
        self.host = host
        self.url = url
        what = url or host
        super().__init__(
            f"bwsim blocked a request to {what!r}: tests may only reach loopback, the "
            "simulated Bandwidth hosts (api.bandwidth.com, voice.bandwidth.com) and the "
            "hosts named with --allow-host. Point the service at a loopback fake, disable "
            "it when running under bwsim, or allow its host (--allow-host HOST)."
        )


class BotMisbehaved(SimulatorError, AssertionError):
    """The bot under test did something Bandwidth or the scenario does not allow."""


class ProtocolViolation(BotMisbehaved):
    """The bot broke the Bandwidth media-stream or webhook contract."""

    def __init__(self, rule: str, detail: str, *, frame: str | None = None) -> None:
        self.rule = rule
        self.detail = detail
        self.frame = frame
        message = f"{rule}: {detail}"
        if frame is not None:
            shown = frame if len(frame) <= 200 else frame[:200] + "…"
            message += f" (frame: {shown!r})"
        super().__init__(message)


class UnexpectedApiRequest(BotMisbehaved):
    """The bot sent a REST request the fake Bandwidth has no route for."""

    def __init__(self, method: str, url: str, reason: str) -> None:
        self.method = method
        self.url = url
        self.reason = reason
        super().__init__(f"{method} {url}: {reason}")


class ExpectationFailed(BotMisbehaved):
    """A call did not show what a test expected; the message lists every verdict."""

    def __init__(self, call_id: str, report: str, failed: int) -> None:
        self.call_id = call_id
        self.report = report
        self.failed = failed
        super().__init__(report)


class CallTimeout(BotMisbehaved, TimeoutError):
    """Something the bot had to do did not happen within its budget."""

    def __init__(self, what: str, within_ms: float) -> None:
        self.what = what
        self.within_ms = within_ms
        super().__init__(f"{what} did not happen within {within_ms:.0f} ms")
