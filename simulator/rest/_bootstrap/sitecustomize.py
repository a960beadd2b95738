"""bwsim bootstrap: ends the bot with bwsim, and installs the request interception.

bwsim puts this folder first on the child's ``PYTHONPATH``. Python imports
``sitecustomize`` at startup, so this runs in every Python process of a bot bwsim started,
before the bot imports anything. It does two things:

- With ``$BWSIM_LIFELINE`` (``FD:INODE``, the read end of a pipe whose write end only
  bwsim holds) it starts a thread that waits on that pipe. The read returns
  end-of-file only when bwsim has exited, however it exited (SIGKILL included); the thread
  then removes bwsim's temporary folder ``$BWSIM_TMP`` (only a folder named ``bwsim-…``),
  which a killed bwsim could not, and SIGKILLs this process's group, which is the group
  bwsim started the bot in. The
  inode is checked so that a process that inherited the variable but not the descriptor
  (its number reused for something else) never watches the wrong file.
- With ``$BWSIM_INTERCEPT`` (the fake Bandwidth's description) it installs the hooks. The
  module is loaded by file path, so the child needs none of bwsim's dependencies.
"""

import os
import sys


def _clear_pdeathsig() -> None:
    """Drop the parent-death signal bwsim gave the process it started itself (Linux).

    It is there for programs with no watcher; here the watcher does its work, and removes
    bwsim's temporary folder first, which a SIGKILL from the kernel would not let it do.
    Only bwsim's direct child has it (``$BWSIM_PARENT`` is bwsim's pid; the signal
    survives ``exec`` but not ``fork``), so only that one pays for ``ctypes``. It is
    cleared here, on the main thread: the kernel keeps it per thread.
    """
    if not sys.platform.startswith("linux") or os.environ.get("BWSIM_PARENT") != str(os.getppid()):
        return
    try:
        import ctypes  # noqa: PLC0415 - only in bwsim's direct child

        ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG, no signal
    except (OSError, AttributeError):
        pass


def _watch_lifeline(raw: str) -> None:
    # Only builtin modules here: this runs before every bot starts (``_thread`` rather
    # than ``threading``, which imports several modules).
    import _thread  # noqa: PLC0415

    try:
        fd_text, inode_text = raw.split(":")
        fd = int(fd_text)
        info = os.fstat(fd)
    except (ValueError, OSError):
        return
    is_fifo = info.st_mode & 0o170000 == 0o010000
    if not is_fifo or info.st_ino != int(inode_text):
        return

    _clear_pdeathsig()

    def watch() -> None:
        try:
            while os.read(fd, 1):
                pass  # nobody writes; only end-of-file matters
        except OSError:
            return
        # bwsim is gone: remove its temporary folder, then end this process's group (the
        # bot, its shell wrapper, its workers).
        tmp = os.environ.get("BWSIM_TMP", "")
        if os.path.basename(tmp).startswith("bwsim-"):  # noqa: PTH119 - no pathlib import
            import shutil  # noqa: PLC0415

            shutil.rmtree(tmp, ignore_errors=True)
        try:
            os.killpg(os.getpgrp(), 9)
        except OSError:
            os._exit(1)

    _thread.start_new_thread(watch, ())


if os.environ.get("BWSIM_LIFELINE"):
    _watch_lifeline(os.environ["BWSIM_LIFELINE"])

if os.environ.get("BWSIM_INTERCEPT"):
    import importlib.util
    from pathlib import Path

    _path = Path(__file__).resolve().parent.parent / "intercept.py"
    _spec = importlib.util.spec_from_file_location("_bwsim_intercept", _path)
    if _spec is None or _spec.loader is None:
        sys.exit(f"bwsim bootstrap: cannot load {_path}")
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["_bwsim_intercept"] = _module
    _spec.loader.exec_module(_module)
    _module.install_from_env()
