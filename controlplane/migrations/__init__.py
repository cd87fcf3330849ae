"""Alembic's home: the environment, the script template and one revision per schema change.

Revisions are written with `python -m controlplane.schema revision -m MESSAGE` (alembic's
autogenerate, configured in controlplane/schema.py) and reviewed by hand; `make lint` runs
`alembic check` so models and revisions never drift."""
