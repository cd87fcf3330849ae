"""Completed records' files whose path has been checked (own location, inside the storage root, no
link on the way), so the check is not repeated for every range a player asks for: resolving each
component cost about a fifth of the agent's CPU per 1 MiB range. A completed record's file never
changes until the record is deleted, which drops it here. A growing record is not kept: its file
changes from part to part.

What was checked is confirmed by one stat per use: the same file (device and inode) must still be at
that path, so a file or a directory swapped for a link or another file since is checked again."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class _Checked:
    location: str
    path: Path  # resolved, inside the storage root
    identity: tuple[int, int]  # (st_dev, st_ino) of the file when it was checked


class CheckedFiles:
    def __init__(self) -> None:
        self._files: dict[str, _Checked] = {}  # by record: a completed record has one file

    def get(self, record_id: str, location: str) -> Path | None:
        """The checked path of the record's `location` if it is still the file that was checked."""
        checked = self._files.get(record_id)
        if checked is None or checked.location != location:
            return None
        try:
            st = os.stat(checked.path)
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != checked.identity:
            del self._files[record_id]
            return None
        return checked.path

    def keep(self, record_id: str, location: str, path: Path) -> None:
        try:
            st = os.stat(path)
        except OSError:
            return
        self._files[record_id] = _Checked(location, path, (st.st_dev, st.st_ino))

    def drop(self, record_id: str) -> None:
        self._files.pop(record_id, None)
