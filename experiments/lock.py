"""The writer's lock of a run folder: ``OUT/<scenario>/.lock`` lets one process write it at a time."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from experiments.store import LOCK, RunFolderLocked


class RunFolderLock:
    """``OUT/<scenario>/.lock``: only one process writes a run folder at a time.

    The lock file is created with ``O_CREAT | O_EXCL`` and holds the writer's pid, host, start
    time and command.  A lock whose process is gone (same host, pid not alive) is stale and is
    taken over (:attr:`note` says so); a live one raises :class:`RunFolderLocked` naming the
    holder.  Use as a context manager, or call :meth:`acquire` and :meth:`release` (which
    removes the file only if it is still this lock's)."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK
        self.note: str | None = None
        self._token = uuid.uuid4().hex
        self._created: list[Path] = []  # folders made for the lock, deepest first
        self._held = False

    def acquire(self) -> RunFolderLock:
        missing = self.run_dir
        while not missing.exists() and missing != missing.parent:
            self._created.append(missing)
            missing = missing.parent
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._acquire()
        except BaseException:
            self._remove_created_dir()
            raise
        return self

    def _acquire(self) -> None:
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": datetime.now().astimezone().replace(microsecond=0).isoformat(),
                "command": _command(),
                "token": self._token}
        for _ in range(50):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is None:  # vanished, or being written right now: look again
                    time.sleep(0.05)
                    continue
                if not _is_stale(holder):
                    raise RunFolderLocked(self._held_message(holder)) from None
                self._take_over(holder)
                continue
            try:
                os.write(fd, (json.dumps(info) + "\n").encode())
            except BaseException:
                os.close(fd)
                self.path.unlink(missing_ok=True)
                raise
            os.close(fd)
            self._held = True
            return
        holder = self._holder()
        raise RunFolderLocked(self._held_message(holder) if holder else
                              f"{self.path}: unreadable lock file; if no run is writing "
                              f"{self.run_dir}, delete it")

    def _holder(self) -> dict[str, Any] | None:
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8"))
            return holder if isinstance(holder, dict) and "pid" in holder else None
        except (OSError, ValueError):
            return None

    def _take_over(self, stale: dict[str, Any]) -> None:
        """Remove the stale lock, unless another process took it over first (a short-lived
        ``.lock.takeover`` file makes the check-and-remove one step)."""
        mutex = self.path.with_name(LOCK + ".takeover")
        try:
            os.close(os.open(mutex, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            try:
                if time.time() - mutex.stat().st_mtime > 30:  # its owner died mid-takeover
                    mutex.unlink(missing_ok=True)
            except OSError:
                pass
            time.sleep(0.05)
            return
        try:
            if (self._holder() or {}).get("token") == stale.get("token"):
                self.path.unlink(missing_ok=True)
                self.note = (f"note: took over the stale lock of {self.run_dir} (pid {stale.get('pid')} "
                             f"on host {stale.get('host')} since {_short_time(stale.get('started'))} "
                             "is gone)")
        finally:
            mutex.unlink(missing_ok=True)

    def _held_message(self, holder: dict[str, Any]) -> str:
        message = (f"{self.run_dir} is being written by pid {holder.get('pid')} on host "
                   f"{holder.get('host')} since {_short_time(holder.get('started'))} "
                   f"({holder.get('command', '?')}); wait for it or stop it")
        if holder.get("host") != socket.gethostname():
            message += f" (if it is gone, delete {self.path})"
        return message

    def release(self) -> None:
        """Remove the lock file if it is still ours (and the folder, if we made it and it is empty)."""
        if self._held:
            self._held = False
            if (self._holder() or {}).get("token") == self._token:
                self.path.unlink(missing_ok=True)
        self._remove_created_dir()

    def _remove_created_dir(self) -> None:
        created, self._created = self._created, []
        for folder in created:  # only if empty: nothing was written after all
            try:
                folder.rmdir()
            except OSError:
                return

    def __enter__(self) -> RunFolderLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _command() -> str:
    """The command line of this process, as the user typed it (``bth run ...``)."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if program in ("cli.py", "__main__.py"):  # python -m experiments.cli
        program = "bth"
    return " ".join([program, *sys.argv[1:]])


def _is_stale(holder: dict[str, Any]) -> bool:
    """Whether a lock's process is gone (only decidable on its own host)."""
    if holder.get("host") != socket.gethostname():
        return False
    try:
        pid = int(holder["pid"])
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _short_time(started: Any) -> str:
    """'21:30' for a lock taken today, else '2025-03-01 21:30'."""
    try:
        when = datetime.fromisoformat(str(started))
    except ValueError:
        return str(started)
    now = datetime.now(when.tzinfo)
    return when.strftime("%H:%M") if when.date() == now.date() else when.strftime("%Y-%m-%d %H:%M")
