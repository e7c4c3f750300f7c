"""Deploy-time validation: what would fail a request (an unset key variable, a model missing from the bundle, an
endpoint given as base URL) fails building the app, starting an ingress replica, or preparing a bundle swap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finerouter.errors import ConfigError
from serve_app.app import build_app, serve_config
from serve_app.config import ServeAppArgs
from serve_app.local import load_args
from serve_app.service import RoutingService
from tests.serve_app.conftest import UPSTREAM_KEY_ENV

UNSET = "FINEROUTER_TEST_KEY_THAT_IS_NOT_SET"


def fake_pool_bundle(directory: Path, models: list[str]) -> Path:
    """A directory with only bundle.json's pool: all that the deploy checks read."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "bundle.json").write_text(json.dumps({"models": models}))
    return directory


def app_args(bundle: Path, key_env: str = UPSTREAM_KEY_ENV, **extra: object) -> ServeAppArgs:
    upstreams = {
        "model-a": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": key_env},
        "model-b": {"base_url": "http://127.0.0.1:9/v1", "model": "upstream-name-b"},
    }
    return ServeAppArgs.model_validate({"bundle": str(bundle), "upstreams": upstreams, **extra})


def test_build_app_fails_naming_an_unset_key_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UNSET, raising=False)
    args = app_args(fake_pool_bundle(tmp_path, ["model-a", "model-b"]), key_env=UNSET)
    with pytest.raises(ConfigError, match=f"upstreams.model-a.api_key_env: variable {UNSET} is not set"):
        build_app(args)
    monkeypatch.setenv(UNSET, "sk-now-set")
    build_app(args)  # the same args deploy once the variable is there


def test_build_app_fails_naming_unset_auth_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UNSET, raising=False)
    args = app_args(fake_pool_bundle(tmp_path, ["model-a", "model-b"]), auth={"api_keys_env": UNSET})
    with pytest.raises(ConfigError, match=f"auth.api_keys_env: variable {UNSET}"):
        build_app(args)


def test_an_ingress_replica_without_the_variable_fails_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(UNSET, raising=False)
    service = app_args(fake_pool_bundle(tmp_path, ["model-a", "model-b"]), key_env=UNSET).service()
    with pytest.raises(ConfigError, match=f"ingress replica.*{UNSET}"):
        RoutingService(service, router_handle=None)


def test_build_app_fails_when_the_bundle_lacks_an_upstream_model(tmp_path: Path) -> None:
    args = app_args(fake_pool_bundle(tmp_path, ["model-a", "model-c"]))
    with pytest.raises(ConfigError, match=r"not in its pool: \['model-b'\]"):
        build_app(args)


def test_a_bundle_swap_checks_the_new_pool(tmp_path: Path) -> None:
    args = app_args(fake_pool_bundle(tmp_path / "old", ["model-a", "model-b"]))
    serve_config(args, new_bundle=fake_pool_bundle(tmp_path / "good", ["model-a", "model-b", "model-c"]))
    with pytest.raises(ConfigError, match=r"cannot deploy bundle .*bad.*\['model-a'\]"):
        serve_config(args, new_bundle=fake_pool_bundle(tmp_path / "bad", ["model-b"]))


@pytest.mark.parametrize(
    ("upstream", "needle"),
    [
        ({"base_url": "https://api.example.com/v1/chat/completions"}, "not the endpoint"),
        ({"base_url": "https://api.example.com/v1?key=1"}, "query"),
        ({"base_url": "ftp://api.example.com/v1"}, "base_url"),
        ({"base_url": "https://api.example.com/v1", "model": " gpt-4o "}, "whitespace"),
        ({"base_url": "https://api.example.com/v1", "model": ""}, "model"),
        ({"base_url": "https://api.example.com/v1", "api_key_env": ""}, "api_key_env"),
    ],
)
def test_bad_upstream_urls_and_model_names_name_the_field(tmp_path: Path, upstream: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_args(tmp_path, None, {"upstreams": {"model-a": upstream}})


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [({"circuit_breaker.allowed_fails": 0}, "allowed_fails"), ({"circuit_breaker.cooldown_s": 0}, "cooldown_s")],
)
def test_circuit_breaker_settings_are_checked(tmp_path: Path, overrides: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_args(tmp_path, None, overrides)
