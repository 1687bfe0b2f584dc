"""Alembic migrations of the MES schema (same scripts for SQLite and PostgreSQL)."""
