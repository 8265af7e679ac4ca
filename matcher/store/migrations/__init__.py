"""Alembic migrations of the registry schema, run by :func:`matcher.store.setup.migrate` (no alembic.ini needed)."""
