"""Where copies go: `<storage_root>/sync/<path>/<record_id><ext>`, `path` being the caller's
relative directory (`agent://NAME/PATH` of the sync destination), and the unfinished files beside
a copy's final name. Every path handed out stays inside the sync root, symlinks followed: the
segments are an allow-list and the resolved path is checked."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

from agent.errors import FileAccessError
from agent.files.layout import check_record_id

SYNC_DIR = "sync"
DEFAULT_EXT = ".mp4"
PARTIAL_SUFFIX = ".partial"  # a received stream's file: never reused, so any left is a leftover
RESUME_SUFFIX = ".resume"  # a pull's file: the next pull of that copy resumes it
RESUME_KEEP_S = 7 * 86400  # a pull not resumed for this long is not coming back: its bytes go

_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_EXT = re.compile(r"\.[A-Za-z0-9]{1,8}")


class SyncDir:
    """`<storage_root>/sync/`, created if missing."""

    def __init__(self, storage_root: Path) -> None:
        self.root = Path(storage_root).absolute() / SYNC_DIR
        self.root.mkdir(parents=True, exist_ok=True)

    def target(self, record_id: str, path: str, ext: str = DEFAULT_EXT) -> Path:
        """The final path of a copy; FileAccessError for a path or id that could leave the sync root."""
        try:
            check_record_id(record_id)
        except ValueError as exc:
            raise FileAccessError(str(exc)) from None
        if not _EXT.fullmatch(ext):
            raise FileAccessError(f"extension {ext[:20]!r} is not a plain .[A-Za-z0-9] suffix")
        target = self.root / _relative_dir(path) / f"{record_id}{ext}"
        self.check_inside(target)
        return target

    def make_parent(self, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        self.check_inside(target.parent)  # a symlinked directory created meanwhile

    def check_inside(self, path: Path) -> None:
        """`path` with symlinks followed must stay under the sync root (a link must not lead out)."""
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise FileAccessError(f"{path} is not inside the sync directory")

    def remove_leftovers(self) -> None:
        """Partials left by a crash, and resume files no pull came back for in `RESUME_KEEP_S`."""
        for partial in self.root.rglob(f"*{PARTIAL_SUFFIX}"):
            if partial.is_file() and not partial.is_symlink():
                partial.unlink(missing_ok=True)
        too_old = time.time() - RESUME_KEEP_S
        for resume in self.root.rglob(f"*{RESUME_SUFFIX}"):
            if resume.is_file() and not resume.is_symlink() and resume.stat().st_mtime < too_old:
                resume.unlink(missing_ok=True)


def partial_path(target: Path) -> Path:
    """Unique per call: two concurrent receives of the same copy never write one file."""
    return target.with_name(f"{target.name}.{uuid.uuid4().hex[:12]}{PARTIAL_SUFFIX}")


def resume_path(target: Path, md5: str) -> Path:
    """Named by the MD5, so only a pull of the same bytes resumes it."""
    return target.with_name(f"{target.name}.{md5}{RESUME_SUFFIX}")


def _relative_dir(path: str) -> Path:
    """`path` as a relative directory of plain segments; FileAccessError for anything else."""
    if path.startswith("/") or "\\" in path or "\x00" in path:
        raise FileAccessError(f"sync path {path[:80]!r} must be relative")
    segments = [s for s in path.split("/") if s]
    for segment in segments:
        if not _SEGMENT.fullmatch(segment) or set(segment) == {"."}:
            raise FileAccessError(f"sync path {path[:80]!r}: segment {segment[:40]!r} is not allowed")
    return Path(*segments)
