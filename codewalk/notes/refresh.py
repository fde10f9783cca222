"""Rewrite the fingerprints of re-read notes in place, touching nothing else in the file.

Each note knows the line of its `fingerprint:` key, so only that value is replaced: comments,
order and formatting of the YAML stay exactly as written.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from codewalk.notes.schema import Notes
from codewalk.notes.check import NoteStatus


def refresh(notes: Notes, statuses: list[NoteStatus], ids: set[str], everything: bool) -> list[str]:
    """New fingerprints for the named drifted notes (or all drifted ones); returns their ids."""
    wanted = {s.id: s.actual for s in statuses
              if s.status == "drifted" and s.actual and (everything or s.id in ids)}
    by_file: dict[str, list[tuple[int, str, str]]] = {}
    for note in notes.notes:
        if note.id in wanted:
            by_file.setdefault(note.path, []).append((note.fingerprint_line, note.fingerprint, wanted[note.id]))
    for path, edits in by_file.items():
        _rewrite(Path(path), edits)
    return sorted(wanted)


def _rewrite(path: Path, edits: list[tuple[int, str, str]]) -> None:
    lines = path.read_text("utf-8").splitlines(keepends=True)
    for line_no, old, new in edits:
        line = lines[line_no - 1]
        if not re.search(r"\bfingerprint\s*:", line) or old not in line:
            raise ValueError(f"{path}:{line_no}: expected 'fingerprint: {old}' here")
        lines[line_no - 1] = line.replace(old, new, 1)
    # Write beside and rename, so an interrupted refresh never leaves half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(lines))
    os.replace(tmp, path)
