"""Alembic migrations of the registry schema, run by ``Registry.init()`` (no alembic.ini needed)."""
