"""The role table is in the code (controlplane/auth/roles.py) and, as the issue asks, in the README; and
docs/roles.md says the same permission by permission. A permission moved in the code and not in the
documents (or the other way round) fails here."""

from __future__ import annotations

import re
from pathlib import Path

from controlplane.auth.roles import Permission, Role, permissions_of

ROOT = Path(__file__).resolve().parents[1]
MARK = "✓"


def _rows(text: str, first_header: str) -> list[list[str]]:
    """The cells of the Markdown table whose first header is `first_header` (leading `  ` allowed)."""
    lines = [line.strip() for line in text.splitlines()]
    start = next((i for i, line in enumerate(lines) if re.match(rf"^\|\s*{first_header}\s*\|", line)), None)
    assert start is not None, f"no table with the header {first_header!r}"
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_readme_names_each_roles_permissions_as_the_code_does() -> None:
    rows = {cells[0]: cells[1] for cells in _rows((ROOT / "README.md").read_text(), "role")}
    assert set(rows) == {r.value for r in Role}
    below: set[Permission] = set()
    for role in Role:  # lowest first: each row names what the role adds to the one below
        values = {p.value for p in Permission}
        named = {Permission(p) for p in re.findall(r"`(\w+)`", rows[role.value]) if p in values}
        assert named == set(permissions_of(role)) - below, role
        below |= named


def test_docs_roles_table_matches_the_code() -> None:
    rows = _rows((ROOT / "docs" / "roles.md").read_text(), "permission")
    table = {re.sub(r"`", "", cells[0]): cells[2:5] for cells in rows}
    assert set(table) == {p.value for p in Permission}
    for permission, marks in table.items():
        held = [role for role, mark in zip(Role, marks, strict=True) if mark == MARK]
        assert held == [r for r in Role if Permission(permission) in permissions_of(r)], permission
