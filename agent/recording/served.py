"""What `RecordManager.resolve_file` answers (`ServedFile`), and the completed records' files whose
path has been checked already (`CheckedFiles`), so the check (own location, inside the storage root,
no link on the way: a realpath of every component) is not repeated for every range a player asks
for; it cost about a fifth of the agent's CPU per 1 MiB range. A completed record's file never
changes until the record is deleted, which drops it here. A growing record is not kept: its file
changes from part to part.

What was checked is confirmed by one stat per use: the same file (device and inode) must still be at
that path, so a file or a directory swapped for a link or another file since is checked again."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple


class ServedFile(NamedTuple):
    """A file of a record that may be read (a tuple: it is built for every range served)."""

    path: Path  # resolved, an existing file inside the storage root
    growing: bool  # ffmpeg is appending to it right now
    hash_md5: str | None  # the record's MD5 once completed (of its final file)
    final: bool  # the completed record's final file: `hash_md5` is its MD5, a validator for good


@dataclass(frozen=True)
class _Checked:
    location: str
    served: ServedFile
    identity: tuple[int, int]  # (st_dev, st_ino) of the file when it was checked


class CheckedFiles:
    def __init__(self) -> None:
        self._files: dict[str, _Checked] = {}  # by record: a completed record has one file

    def get(self, record_id: str, location: str) -> ServedFile | None:
        """What was checked for the record's `location`, if that is still the file at its path."""
        checked = self._files.get(record_id)
        if checked is None or checked.location != location:
            return None
        try:
            st = os.stat(checked.served.path)
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != checked.identity:
            del self._files[record_id]
            return None
        return checked.served

    def keep(self, record_id: str, location: str, served: ServedFile) -> None:
        try:
            st = os.stat(served.path)
        except OSError:
            return
        self._files[record_id] = _Checked(location, served, (st.st_dev, st.st_ino))

    def drop(self, record_id: str) -> None:
        self._files.pop(record_id, None)
