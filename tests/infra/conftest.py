"""Fixtures for tests/infra: the provider fixtures live in fix_providers.py."""

from tests.infra.fix_providers import api, make_provider, make_provider_pg, spy  # noqa: F401 (found by name)
