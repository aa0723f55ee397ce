"""SQLite (Prisma) -> PostgreSQL data mover with verification: ``python -m migrate``."""
