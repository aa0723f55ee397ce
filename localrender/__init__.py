"""A local stand-in for the Render REST API that provisions real PostgreSQL databases."""

from .server import LocalRender

__all__ = ["LocalRender"]
