"""Every provider survives Pulumi's dill round trip, holds no credential in the blob, and reads them in configure()."""

from __future__ import annotations

import base64

import dill
import pytest
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.dynamic.dynamic import serialize_provider

from infra.render._provider import MissingApiKey, RenderProvider
from infra.render.deploy import DeployProvider
from infra.render.env_var import EnvVarProvider
from infra.render.maintenance import MaintenanceProvider
from infra.render.postgres import PostgresProvider

PROVIDERS = [PostgresProvider, EnvVarProvider, DeployProvider, MaintenanceProvider]
KEY = "rnd_pickleTestKey0123456789"
URL = "http://127.0.0.1:9/v1"


def round_trip(provider: RenderProvider) -> RenderProvider:
    """Exactly what Pulumi does: serialize into the state at construction, load in the provider process."""
    return dill.loads(base64.b64decode(serialize_provider(provider)))


def configure(provider: RenderProvider, values: dict, project: str = "proj") -> RenderProvider:
    provider.configure(ConfigureRequest(Config(values, project)))
    return provider


@pytest.mark.parametrize("cls", PROVIDERS)
def test_provider_pickles_by_reference_without_the_key(cls, monkeypatch):
    monkeypatch.setenv("RENDER_API_KEY", KEY)
    monkeypatch.setenv("RENDER_API_URL", URL)
    blob = base64.b64decode(serialize_provider(cls()))
    assert cls.__module__.encode() in blob and cls.__name__.encode() in blob
    assert len(blob) < 120  # a reference to the class, no code and no captured globals
    assert KEY.encode() not in blob and URL.encode() not in blob
    assert type(round_trip(cls())) is cls


@pytest.mark.parametrize("cls", PROVIDERS)
def test_configured_provider_still_pickles_without_credentials(cls):
    provider = configure(round_trip(cls()), {"proj:renderApiKey": KEY, "proj:renderApiUrl": URL})
    blob = base64.b64decode(serialize_provider(provider))
    assert KEY.encode() not in blob and URL.encode() not in blob
    assert round_trip(provider)._api_key is None


def test_configure_reads_the_stack_secret_namespaced_by_project_before_the_environment(monkeypatch):
    monkeypatch.setenv("RENDER_API_KEY", "rnd_fromEnvironment")
    monkeypatch.setenv("RENDER_API_URL", "http://env.invalid/v1")
    provider = configure(round_trip(PostgresProvider()), {"cutover:renderApiKey": KEY,
                                                          "cutover:renderApiUrl": URL}, project="cutover")
    client = provider._client()
    assert client.base_url == URL and client._auth.key == KEY
    client.close()


def test_configure_falls_back_to_the_environment(monkeypatch):
    monkeypatch.setenv("RENDER_API_KEY", "rnd_fromEnvironment")
    monkeypatch.setenv("RENDER_API_URL", URL)
    # Another project's key is not ours: Config namespaces unqualified names by the project.
    provider = configure(round_trip(EnvVarProvider()), {"other:renderApiKey": KEY}, project="cutover")
    with provider._client() as client:
        assert client._auth.key == "rnd_fromEnvironment" and client.base_url == URL


def test_missing_key_is_reported_when_the_api_is_needed_naming_both_ways_to_set_it(monkeypatch):
    monkeypatch.delenv("RENDER_API_KEY", raising=False)
    provider = configure(round_trip(DeployProvider()), {})
    with pytest.raises(MissingApiKey) as error:
        provider.create({"service_id": "srv-x", "triggers": [1], "clear_cache": False})
    assert "pulumi config set --secret renderApiKey" in str(error.value) and "RENDER_API_KEY" in str(error.value)


@pytest.mark.parametrize("cls", PROVIDERS)
def test_unconfigured_provider_has_no_credentials_at_all(cls, monkeypatch):
    monkeypatch.setenv("RENDER_API_KEY", KEY)
    provider = cls()  # construction (the program side) never reads the key
    assert provider._api_key is None and vars(provider) == {}
