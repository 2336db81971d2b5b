"""One live run per run folder: a lock file held for the run's lifetime.

A run creates ``<run folder>/.lock`` with ``O_CREAT | O_EXCL`` (atomic on a
local disk and on NFS v3+, the shared file systems that multi-node runs
write to), holding the host, the process id, the start time and a heartbeat
that a thread refreshes every :data:`HEARTBEAT_SECONDS`. The lock is removed
when the run ends, however it ends short of ``kill -9``; a lock whose holder
is gone is *stale* and is taken over:

* on the same host, when its process is no longer alive (also after
  ``kill -9``);
* from another host, whose processes cannot be asked, when its heartbeat is
  older than :data:`STALE_SECONDS` (``MDE_PYG_LOCK_STALE_SECONDS``
  overrides it).

Only rank 0 of a ``torchrun`` job takes the lock: its processes share one
folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from mde_pyg.errors import RunFolderInUse, StorageError, UserError, machine_fault
from mde_pyg.training.distributed import broadcast_object, is_main_process

#: The lock file, in the run folder.
LOCK_NAME = ".lock"
#: How often a live run refreshes its heartbeat.
HEARTBEAT_SECONDS = 30.0
#: A lock of another host whose heartbeat is older is stale.
STALE_SECONDS = 600.0


def stale_after() -> float:
    """:data:`STALE_SECONDS`, or ``$MDE_PYG_LOCK_STALE_SECONDS``."""
    return float(os.environ.get("MDE_PYG_LOCK_STALE_SECONDS", STALE_SECONDS))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def read_lock(path: Path) -> dict[str, Any] | None:
    """The holder recorded in the lock file ``path``; :obj:`None` if there
    is no lock; an empty dict if it cannot be read (being written)."""
    try:
        holder = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def is_stale(holder: dict[str, Any], now: float | None = None) -> bool:
    """Whether the run that wrote ``holder`` is gone (see the module)."""
    now = time.time() if now is None else now
    if holder.get("host") == socket.gethostname() and "pid" in holder:
        return not _process_alive(int(holder["pid"]))
    heartbeat = holder.get("heartbeat", holder.get("started", now))
    return now - float(heartbeat) > stale_after()


def describe_holder(holder: dict[str, Any]) -> str:
    """``process <pid> on <host> since <time> (last heartbeat <n>s ago)``."""
    started = holder.get("started")
    since = (
        datetime.fromtimestamp(float(started)).isoformat(sep=" ", timespec="seconds")
        if started is not None
        else "?"
    )
    ago = time.time() - float(holder.get("heartbeat", started or time.time()))
    return (
        f"process {holder.get('pid', '?')} on {holder.get('host', '?')} since "
        f"{since} (last heartbeat {max(ago, 0):.0f}s ago)"
    )


class RunLock:
    """The lock of a run folder, held between :meth:`acquire` and
    :meth:`release` (a context manager as well)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.holder: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> RunLock:
        """Takes the lock, taking over a stale one.

        Raises:
            RunFolderInUse: if a live run holds it.
            StorageError: if the folder cannot be written.
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for _ in range(3):
                if self._create():
                    break
                holder = read_lock(self.path)
                if holder is None:
                    continue  # released meanwhile
                if holder and not is_stale(holder):
                    raise RunFolderInUse(
                        f"{self.folder}: in use by {describe_holder(holder)} (wait "
                        "for it to end or stop it, or set another output_dir; a "
                        f"lock left by a dead process is taken over: on another "
                        f"host after {stale_after():.0f}s without heartbeat)"
                    )
                if not holder and time.time() - self._mtime() < stale_after():
                    time.sleep(0.2)  # being written by its creator
                    continue
                self.path.unlink(missing_ok=True)  # stale: its holder is gone
            else:
                raise RunFolderInUse(
                    f"{self.folder}: its lock {self.path} is taken by another run "
                    "starting at the same time"
                )
        except OSError as error:
            if machine_fault(error) is None or isinstance(error, UserError):
                raise
            raise StorageError.from_os_error(error) from error
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()
        return self

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        now = time.time()
        self.holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": now,
            "heartbeat": now,
        }
        with os.fdopen(fd, "w") as f:
            json.dump(self.holder, f)
        return True

    def refresh(self) -> None:
        """Writes a new heartbeat (atomically: a reader never sees half a
        file). A failure is ignored: the run's own writes report it."""
        self.holder["heartbeat"] = time.time()
        tmp = self.path.with_name(f"{LOCK_NAME}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self.holder))
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self.refresh()

    def release(self) -> None:
        """Removes the lock if this process still holds it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        holder = read_lock(self.path)
        if holder and holder.get("pid") == os.getpid():
            with contextlib.suppress(OSError):
                self.path.unlink()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


#: What a run folder holds before training writes anything of its own.
_START_FILES = {".hydra", LOCK_NAME, "config.yaml"}


@contextlib.contextmanager
def hold_run_folder(
    folder: str | Path, created: str | Path | None = None
) -> Iterator[RunLock]:
    """Holds the lock of the run folder ``folder`` for the run inside the
    ``with`` block (on rank 0; the other processes of a ``torchrun`` job
    stop with rank 0's error if it cannot be taken).

    If the run fails before training wrote anything (no checkpoint, no
    results), the folders this run created are removed: ``created`` is the
    topmost of them (``folder`` itself, or a parent that did not exist
    before the run); :obj:`None` when the folder existed, whose content is
    then left as it is.

    Raises:
        RunFolderInUse: if a live run holds the folder.
        StorageError: if the folder cannot be written.
    """
    folder = Path(folder)
    lock = RunLock(folder)
    failure: UserError | None = None
    if is_main_process():
        try:
            lock.acquire()
        except UserError as error:
            failure = error
    # The message only: every process stops with rank 0's reason.
    message = broadcast_object(None if failure is None else str(failure))
    if failure is not None:
        raise failure
    if message is not None:
        raise RunFolderInUse(message)
    try:
        yield lock
    except BaseException:
        lock.release()
        if created is not None and is_main_process():
            _remove_if_unused(folder, Path(created))
        raise
    else:
        lock.release()


def _remove_if_unused(folder: Path, created: Path) -> None:
    """Removes ``folder`` if it holds only what a run writes before it
    trains (Hydra's ``.hydra/`` and log, ``config.yaml``), then its empty
    parents up to ``created``."""
    folder, created = folder.absolute(), created.absolute()
    if folder != created and created not in folder.parents:
        return
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    if not all(e.name in _START_FILES or e.suffix == ".log" for e in entries):
        return
    shutil.rmtree(folder, ignore_errors=True)
    for parent in folder.parents:
        if parent == created.parent:
            break
        try:
            parent.rmdir()  # only if empty
        except OSError:
            break
