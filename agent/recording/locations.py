"""Where a record's files are, as the control plane names them (`agent:relative/path`), and the
checks that a named location is one of the record's own files, inside the storage root, no link:
the one lookup behind serving, hashing and deleting a record's file."""

from __future__ import annotations

import os
from pathlib import Path

from agent.errors import FileAccessError
from agent.recording.recorder import Recording


class Locations:
    def __init__(self, agent: str, root: Path) -> None:
        self._agent = agent
        self._root = root

    def own_path(self, recording: Recording, location: str) -> Path:
        """The path of `location` if it is one of this record's own locations (compared as text)."""
        agent, sep, _ = location.partition(":")
        if not sep or agent != self._agent:
            raise FileAccessError(f"location {location!r} is not on agent {self._agent}")
        own = [recording.current_path, Path(recording.row.final_path), *map(Path, recording.row.parts)]
        for path in own:
            if location in self.names(path):
                return path
        raise FileAccessError(f"{location!r} is not a location of record {recording.row.record_id}")

    def names(self, path: Path) -> tuple[str, ...]:
        """How `path` is named to the control plane: relative to the storage root, which is the
        agent's business and never shown to API users; first, the form reported. The absolute form is
        what agents reported before, and records finished then keep it."""
        absolute = f"{self._agent}:{path}"
        try:
            relative = Path(os.path.abspath(path)).relative_to(os.path.abspath(self._root))
        except ValueError:
            return (absolute,)
        return (f"{self._agent}:{relative}", absolute)

    def checked_path(self, recording: Recording, location: str) -> Path:
        """The resolved path of one of the record's own locations, an existing file inside the root."""
        own = self.own_path(recording, location)
        path = self.inside_root(own)
        # Served bytes are the record's own file, never what a link planted in the storage root
        # points at (the journal, another record): no link anywhere below the root.
        below = Path(os.path.abspath(own)).relative_to(os.path.abspath(self._root))
        if path.relative_to(self._root.resolve()) != below:
            raise FileAccessError(f"{own} is a link, not the record's file")
        return path

    def inside_root(self, path: Path) -> Path:
        """`path` resolved (symlinks followed); it must be an existing file inside the storage root."""
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise FileAccessError(f"{path} does not exist") from None
        if not resolved.is_relative_to(self._root.resolve()) or not resolved.is_file():
            raise FileAccessError(f"{path} is not a file inside the storage root")
        return resolved
