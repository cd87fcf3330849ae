"""The copies this agent keeps: which copy a `(record_id, location)` names, whether the copy a header
announces is already kept, and registering or deleting one. Opening the store removes what earlier
runs left unfinished (see `paths`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from agent.errors import UnknownRecordError
from agent.files.copies.model import CopyHeader, CopyInfo
from agent.files.copies.paths import DEFAULT_EXT, SyncDir
from agent.files.copies.table import CopyTable
from agent.files.layout import JOURNAL_NAME

log = logging.getLogger(__name__)


class CopyStore:
    """The copies this agent holds; `close()` when done."""

    def __init__(self, storage_root: Path, agent_name: str) -> None:
        self.dir = SyncDir(storage_root)
        self._root = Path(storage_root).absolute()
        self._table = CopyTable(Path(storage_root).absolute() / JOURNAL_NAME)
        self._agent = agent_name
        self.dir.remove_leftovers()

    def close(self) -> None:
        self._table.close()

    @property
    def sync_root(self) -> Path:
        return self.dir.root

    def find(self, record_id: str, path: str, ext: str = DEFAULT_EXT) -> CopyInfo | None:
        """The copy of `record_id` kept in directory `path`, if it is registered and still on disk
        with its registered size (not re-hashed: the file was verified when it was written)."""
        target = self.dir.target(record_id, path, ext)
        info = self._table.get(record_id, self._location(target)) or self._table.get(
            record_id,
            f"{self._agent}:{target}",  # registered by an older agent, under the absolute form
        )
        if info is None:
            return None
        try:
            if info.path.stat().st_size == info.size:
                return info
        except OSError:
            pass
        return None

    def already_kept(self, header: CopyHeader, ext: str = DEFAULT_EXT) -> CopyInfo | None:
        """The copy `header` announces if it is already kept with that size and MD5 (a retried sync)."""
        existing = self.find(header.record_id, header.path, ext)
        if (
            existing is not None
            and existing.hash_md5 == header.hash_md5.lower()
            and existing.size == header.size
        ):
            return existing
        return None

    def resolve(self, record_id: str, location: str) -> CopyInfo:
        """The registered copy of `record_id` at `location`; UnknownRecordError if there is none."""
        info = self._table.get(record_id, location)
        if info is None:
            raise UnknownRecordError(record_id)
        self.dir.check_inside(info.path)
        return info

    def register(self, header: CopyHeader, target: Path, md5: str) -> CopyInfo:
        """Record the verified copy now renamed to `target` (replacing an older copy's row)."""
        info = CopyInfo(header.record_id, self._location(target), target, md5, header.size, time.time())
        self._table.put(info)
        log.info("copy of record %s kept at %s (%d bytes)", header.record_id, target, header.size)
        return info

    async def delete(self, record_id: str, location: str) -> None:
        """Remove the copy's file and its row; UnknownRecordError if it is not a registered copy."""
        info = self._table.get(record_id, location)
        if info is None:
            raise UnknownRecordError(record_id)
        if info.path.exists() or info.path.is_symlink():
            self.dir.check_inside(info.path.parent)
            info.path.unlink()  # the name itself, never a link's target
        self._table.remove(record_id, location)
        log.info("copy of record %s at %s deleted", record_id, info.path)

    def _location(self, path: Path) -> str:
        """Relative to the storage root, like a record's own location: API users never learn the
        agent's directories. Copies registered before keep their absolute location."""
        return f"{self._agent}:{path.absolute().relative_to(self._root)}"
