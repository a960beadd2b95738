"""``bwsim record``: the capture proxy between Bandwidth and a bot, writing call archives."""

from simulator.record.capture import CallCapture, Captures, write_archive
from simulator.record.proxy import STREAM_PREFIX, RecordApp
from simulator.record.server import Recorder, bind_socket

__all__ = [
    "STREAM_PREFIX",
    "CallCapture",
    "Captures",
    "RecordApp",
    "Recorder",
    "bind_socket",
    "write_archive",
]
