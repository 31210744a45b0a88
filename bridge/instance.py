"""One Bridge per profile. The first one holds an OS lock on `<data dir>/bridge.lock` and
listens on a loopback port for commands from later starts; a second start hands over
("show": open your window; "sync": sync now) instead of running a second engine on the same
state. The port and a random token are in `<data dir>/bridge.instance.json`, readable only by the
user; a command without the token is ignored.

Anything may connect to that port: a client gets one short line (`MAX_LINE` bytes) within
`CLIENT_TIMEOUT_S`; anything else (a huge line, garbage, silence) is refused, and the next
client is served as usual. Refusals are logged as warnings, the first `REFUSALS_LOGGED`
each as it comes and then at most one line every `REFUSALS_SUMMARY_S` seconds with how
many more, until a quiet period: a local program that keeps connecting must not rotate the
log's history away."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from bridge.files import folder_problem, writable_dir

log = logging.getLogger("bridge.instance")

COMMANDS = ("show", "sync", "stop")
# a command line is "<32 hex token> <command>\n"; longer ones are refused unread
MAX_LINE = 256
CLIENT_TIMEOUT_S = 5.0
# refusals logged each, then one line with their count at most every so many seconds
REFUSALS_LOGGED = 5
REFUSALS_SUMMARY_S = 60.0


class _Refusals:
    """The warnings about refused connections, capped: the first `REFUSALS_LOGGED` as they
    come; past those, one line every `REFUSALS_SUMMARY_S` seconds with how many more came
    (and why the last one was refused); after a period without any, the next ones are
    logged as they come again."""

    def __init__(self) -> None:
        self.logged = 0  # logged as they came
        self.more = 0  # refused since, not yet told
        self.last = ""  # why the last of those was refused
        self.recent = 0  # refused in this period
        self._timer: asyncio.TimerHandle | None = None

    def refused(self, why: str) -> None:
        self.recent += 1
        if self.logged < REFUSALS_LOGGED:
            self.logged += 1
            log.warning("Refused a command on the instance port: %s", why)
        else:
            self.more += 1
            self.last = why
        if self._timer is None:
            self._period()

    def _period(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(REFUSALS_SUMMARY_S, self._ended)

    def _ended(self) -> None:
        self.summary()
        if self.recent:
            self.recent = 0
            self._period()
        else:
            self._timer = None
            self.logged = 0

    def summary(self) -> None:
        """Log how many refusals went unlogged, if any."""
        if self.more:
            log.warning(
                "Refused %s more commands on the instance port (the last: %s); while "
                "they go on, their count is logged every %g s",
                f"{self.more:,}",
                self.last,
                REFUSALS_SUMMARY_S,
            )
            self.more = 0

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.summary()


class InstanceLock:
    def __init__(self, data_dir: Path, name: str = "bridge") -> None:
        self.data_dir = data_dir
        self.lock_path = data_dir / f"{name}.lock"
        self.info_path = data_dir / f"{name}.instance.json"
        self._fh: IO[str] | None = None
        self._server: asyncio.base_events.Server | None = None
        self._refusals = _Refusals()
        self.token = secrets.token_hex(16)

    def acquire(self) -> bool:
        """True when this process is the profile's only Bridge. A data dir that cannot be
        created or written is a StorageError."""
        writable_dir(self.data_dir)
        try:
            fh = open(self.lock_path, "a+")  # noqa: SIM115 (held open while we run)
        except OSError as exc:
            raise folder_problem(self.data_dir, exc) from None
        try:
            if sys.platform == "win32":
                import msvcrt

                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._fh = fh
        return True

    async def serve(self, on_command: Callable[[str], None]) -> None:
        refused = self._refusals.refused

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                async with asyncio.timeout(CLIENT_TIMEOUT_S):
                    try:
                        raw = await reader.readline()
                    except ValueError:  # longer than MAX_LINE (the reader's limit)
                        refused(f"longer than {MAX_LINE} bytes")
                        return
                    line = raw.split()
                    if (
                        len(line) == 2
                        and secrets.compare_digest(line[0], self.token.encode())
                        and line[1].decode("ascii", "replace") in COMMANDS
                    ):
                        on_command(line[1].decode())
                        writer.write(b"ok\n")
                    else:
                        refused(
                            "an empty line"
                            if not line
                            else "not a command with this profile's token"
                        )
                        writer.write(b"no\n")
                    await writer.drain()
            except TimeoutError:
                refused(f"nothing complete came in {CLIENT_TIMEOUT_S:g} s")
            except OSError:
                pass  # the client went away
            except Exception:  # a command that failed here must not stop the server
                log.exception("A command on the instance port failed")
            finally:
                writer.close()

        self._server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=MAX_LINE)
        port = self._server.sockets[0].getsockname()[1]
        tmp = self.info_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"port": port, "token": self.token, "pid": os.getpid()}, fh)
        os.replace(tmp, self.info_path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._refusals.close()
        with contextlib.suppress(OSError):
            self.info_path.unlink()
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def pid_running(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie, ended but not yet reaped, does not)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes

        synchronize, query_limited, wait_timeout = 0x00100000, 0x1000, 0x102
        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(synchronize | query_limited, False, pid)
        if not handle:
            return False
        try:
            return bool(kernel32.WaitForSingleObject(handle, 0) == wait_timeout)
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def running_info(data_dir: Path, name: str = "bridge") -> dict[str, Any] | None:
    try:
        data = json.loads((data_dir / f"{name}.instance.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def hand_over(
    data_dir: Path, command: str = "show", timeout: float = 5.0, name: str = "bridge"
) -> bool:
    """Ask the profile's running Bridge to do `command`. False when none answers."""
    info = running_info(data_dir, name)
    if info is None:
        return False
    try:
        with socket.create_connection(("127.0.0.1", int(info["port"])), timeout=timeout) as s:
            s.sendall(f"{info['token']} {command}\n".encode())
            return s.recv(16).startswith(b"ok")
    except (OSError, KeyError, ValueError):
        return False
