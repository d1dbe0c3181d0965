"""A local durable spool: the store writes a guard could not make, kept until replayed.

One entry is one file, written to a temporary name, fsynced and renamed into place
(and the folder fsynced), so an entry is either whole on disk or absent, whatever
kills the process. Entries replay in the order they were spooled. A replayer claims
an entry by renaming it, so two processes sharing a spool never replay one entry at
once; a claim left by a process that died is taken over.

Example:
    >>> spool = Spool("/var/lib/app/confguard-spool")
    >>> spool.append(Delivered(escalation_id="esc-1"))
    >>> [entry.op for entry in spool.entries()]
    [Delivered(kind='delivered', escalation_id='esc-1')]
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from confguard.exceptions import StoreError
from confguard.store.base import AuditRecord
from confguard.store.outbox import Escalation

_SUFFIX = ".json"
_CLAIMED = ".claimed-"
_BAD = ".bad"


class _Op(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Record(_Op):
    """A decision to append to the log (with its outbox entry, if it escalates)."""

    kind: Literal["record"] = "record"
    record: AuditRecord
    escalation: Escalation | None = None


class Delivered(_Op):
    """An escalation's delivery succeeded."""

    kind: Literal["delivered"] = "delivered"
    escalation_id: str


class DeliveryFailed(_Op):
    """An escalation's delivery failed with `error`."""

    kind: Literal["delivery_failed"] = "delivery_failed"
    escalation_id: str
    error: str


SpoolOp = Annotated[Record | Delivered | DeliveryFailed, Field(discriminator="kind")]
"""One store write that could not be made."""

_OPS: TypeAdapter[SpoolOp] = TypeAdapter(SpoolOp)


class SpoolEntry(BaseModel):
    """One spooled write and the file that holds it."""

    model_config = ConfigDict(frozen=True)

    path: Path
    op: SpoolOp


class Spool:
    """A folder of spooled store writes (see the module doc)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser()
        self._sequence = itertools.count()

    def __repr__(self) -> str:
        return f"Spool({str(self.directory)!r})"

    def append(self, op: SpoolOp) -> Path:
        """Write `op` durably; returns its file. Raises StoreError if the disk fails."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._sequence):06d}"
        final = self.directory / (name + _SUFFIX)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_durably(final, _OPS.dump_json(op))
        except OSError as exc:
            raise StoreError(f"{self!r} cannot keep a record: {exc}") from exc
        return final

    def __len__(self) -> int:
        return sum(1 for _ in self._files())

    def entries(self) -> Iterator[SpoolEntry]:
        """Every entry not claimed by a live process, oldest first.

        A file that does not parse is renamed ``*.bad`` and skipped.
        """
        for path in self._files():
            try:
                op = _OPS.validate_json(path.read_bytes())
            except FileNotFoundError:
                continue  # replayed by another process meanwhile
            except (OSError, ValidationError):
                path.rename(path.with_name(path.name + _BAD))
                continue
            yield SpoolEntry(path=path, op=op)

    def claim(self, entry: SpoolEntry) -> Path | None:
        """Take `entry` for replay (None: another process has it)."""
        claimed = self.directory / f"{_stem(entry.path)}{_CLAIMED}{os.getpid()}"
        try:
            entry.path.rename(claimed)
        except FileNotFoundError:
            return None
        return claimed

    def release(self, claimed: Path) -> None:
        """Give a claimed entry back, unreplayed (its write failed again)."""
        claimed.rename(self.directory / (_stem(claimed) + _SUFFIX))

    def done(self, claimed: Path) -> None:
        """Forget a claimed entry: its write is in the store."""
        claimed.unlink(missing_ok=True)
        _fsync_folder(self.directory)

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        self._take_over_dead_claims()
        return sorted(self.directory.glob("*" + _SUFFIX))

    def _take_over_dead_claims(self) -> None:
        for claimed in self.directory.glob(f"*{_CLAIMED}*"):
            pid = claimed.name.rsplit(_CLAIMED, 1)[1]
            if pid.isdigit() and not _alive(int(pid)):
                try:
                    self.release(claimed)
                except FileNotFoundError:
                    continue


def _stem(path: Path) -> str:
    return path.name.split(_CLAIMED, 1)[0].removesuffix(_SUFFIX)


def _write_durably(final: Path, data: bytes) -> None:
    partial = final.with_name(final.name + ".partial")
    with open(partial, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, final)
    _fsync_folder(final.parent)  # the rename itself must survive a power cut


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process, alive
        return True
    return True


__all__ = ["Delivered", "DeliveryFailed", "Record", "Spool", "SpoolEntry", "SpoolOp"]
