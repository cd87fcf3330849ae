"""Alembic's home: the environment, the script template and one revision per schema change.

Revisions are written with `alembic revision --autogenerate` (see controlplane/schema.py for the
config) and reviewed by hand; `make lint` runs `alembic check` so models and revisions never drift."""
