"""Render REST API: the client, its errors, and one module per resource kind."""
