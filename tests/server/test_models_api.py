"""The model registry and project policies over a real team server: the SDK pointed at it
(``remote``) registers, aliases, loads and fills in model cards exactly as it does locally;
raw HTTP checks the roles, the upload's integrity check and the server-side policy gate."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import lepton
from lepton import registry
from lepton.errors import (
    ConfigError,
    ModelNotFoundError,
    PermissionDeniedError,
    PolicyViolationError,
    VersionInUseError,
)
from lepton.workspace import get_workspace, reset

API = "/api/v1"


def rows() -> Any:
    import pandas as pd

    return pd.DataFrame({"x1": [1.5, -2.0], "x2": [-0.3, 1.0], "color": ["red", "blue"]})


def headers(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def upload(url: str, token: str, name: str, project: str, bundle: Path, **info: Any) -> Any:
    """Register ``bundle`` with a raw multipart POST, as a non-Python client would."""
    data = bundle.read_bytes()
    record = {
        "bundle_sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "model": "logistic_regression",
        "family": "sklearn",
        **info,
    }
    return httpx.post(
        f"{url}{API}/models/{name}/versions",
        data={"project": project, "info": json.dumps(record)},
        files={"bundle": ("model.lepton", data, "application/octet-stream")},
        headers=headers(token),
    )


# the SDK against the server -----------------------------------------------------------------------
def test_register_alias_load_and_card_through_the_sdk(
    bundle: Path, remote: Any, tmp_path: Path
) -> None:
    first = lepton.register(bundle, "credit-risk", tags={"team": "risk"})
    second = lepton.register(bundle, "credit-risk", description="the same model again")
    assert (first.version, second.version) == (1, 2)
    assert first.info.tags == {"team": "risk"}
    # stored in the server's own store, byte for byte what the SDK saved and hashed
    stored = remote.state.workspace.get_model_version("credit-risk", version=1)
    assert stored.bundle_sha256 == first.bundle_sha256
    with remote.state.workspace.artifacts.open(stored.bundle_key) as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == first.bundle_sha256

    assert registry.set_alias("credit-risk", "production", 1, actor="claimed-name") is not None
    model = lepton.load_model("credit-risk@production")
    expected = lepton.load_model(str(bundle)).predict(rows())
    assert list(model.predict(rows())) == list(expected)
    assert registry.get_version("credit-risk@production").version == 1
    assert registry.get_version("credit-risk").version == 2  # no alias, no number: the latest
    assert registry.get_version("credit-risk:1").aliases == ["production"]

    registry.set_alias("credit-risk", "production", 2)
    history = get_workspace().alias_history("credit-risk")
    assert [(h["version"], h["previous_version"]) for h in history] == [(1, None), (2, 1)]
    # the server records who moved the alias from the API key, then whom they claimed to act for
    assert [h["actor"] for h in history] == ["admin (for claimed-name)", "admin"]

    card = registry.update_card("credit-risk:2", intended_use="Scoring loans", owners="risk")
    assert card.fields["intended_use"] == "Scoring loans" and card.missing == []
    assert registry.model_card("credit-risk:2").fields["owners"] == "risk"
    assert registry.model_card("credit-risk:1").missing == ["intended_use", "owners"]

    [listed] = registry.list_models()
    assert (listed["name"], listed["versions"], listed["latest"]) == ("credit-risk", 2, 2)
    assert listed["aliases"] == {"production": 2}
    assert [v.version for v in registry.list_versions("credit-risk")] == [1, 2]

    exported = registry.export("credit-risk:1", tmp_path / "exported.lepton")
    assert hashlib.sha256(exported.read_bytes()).hexdigest() == first.bundle_sha256
    assert registry.verify("credit-risk:2")["ok"] is True


def test_unknown_models_and_aliases_are_not_found(bundle: Path, remote: Any) -> None:
    lepton.register(bundle, "credit-risk")
    with pytest.raises(ModelNotFoundError, match="credit-risk"):
        registry.get_version("no-such-model")
    with pytest.raises(ModelNotFoundError, match="credit-risk@production"):
        registry.get_version("credit-risk@production")
    with pytest.raises(ModelNotFoundError, match="credit-risk:7"):
        registry.get_version("credit-risk:7")


def test_version_numbers_are_never_reused_and_aliased_versions_stay(
    bundle: Path, remote: Any
) -> None:
    for _ in range(3):
        lepton.register(bundle, "churn")
    registry.set_alias("churn", "production", 3)
    with pytest.raises(VersionInUseError, match="production"):
        registry.delete_version("churn:3")
    reply = httpx.delete(
        f"{remote.url}{API}/models/churn/versions/3", headers=headers(remote.admin_token)
    )
    assert reply.status_code == 409 and reply.json()["error"]["code"] == "version_in_use"

    registry.delete_version("churn:2")
    registry.set_alias("churn", "production", 1)
    registry.delete_version("churn:3")  # the newest: its number is still never given again
    assert lepton.register(bundle, "churn").version == 4
    assert [v.version for v in registry.list_versions("churn")] == [1, 4]
    assert registry.set_alias("churn", "production", None) is None
    assert registry.list_models()[0]["aliases"] == {}


# raw HTTP: validation, integrity, roles ------------------------------------------------------------
def test_an_upload_that_does_not_match_its_record_is_refused(server: Any, bundle: Path) -> None:
    token = server.admin_token
    reply = upload(server.url, token, "credit-risk", "risk", bundle, size=1)
    assert reply.status_code == 409, reply.text
    assert reply.json()["error"]["code"] == "integrity_error"
    assert "changed or cut short" in reply.json()["error"]["message"]

    reply = upload(server.url, token, "credit-risk", "risk", bundle, surprise=True)
    assert reply.status_code == 422 and "surprise" in reply.json()["error"]["message"]
    reply = upload(server.url, token, "credit-risk", "risk", bundle, metrics={"auc": "NaN"})
    assert reply.status_code == 422 and "metrics.auc" in reply.json()["error"]["message"]
    reply = upload(server.url, token, "bad name!", "risk", bundle)
    assert reply.status_code == 422 and "Invalid model name" in reply.json()["error"]["message"]
    # nothing was stored by the refused uploads
    assert server.state.workspace.list_models() == []


def test_viewers_read_developers_write_outsiders_see_nothing(server: Any, bundle: Path) -> None:
    assert upload(server.url, server.admin_token, "credit-risk", "risk", bundle).status_code == 201
    viewer = headers(server.make_token("viewer", "risk"))
    developer = headers(server.make_token("developer", "risk"))
    outsider = headers(server.make_token("developer", "other"))
    base = f"{server.url}{API}/models/credit-risk"

    assert httpx.get(f"{base}/versions/1", headers=viewer).json()["version"] == 1
    assert httpx.get(f"{base}/latest", headers=viewer).status_code == 200
    assert httpx.get(f"{base}/versions/1/bundle", headers=viewer).content == bundle.read_bytes()
    writes = [
        ("PUT", f"{base}/aliases/production", {"version": 1}),
        ("PATCH", f"{base}/versions/1", {"card": {"owners": "me"}}),
        ("DELETE", f"{base}/versions/1", None),
        ("DELETE", f"{base}/aliases/production", None),
    ]
    for method, url, body in writes:
        reply = httpx.request(method, url, json=body, headers=viewer)
        assert reply.status_code == 403, (method, url, reply.text)
        assert "'developer' role" in reply.json()["error"]["message"]
    viewer_token = viewer["authorization"].split()[1]
    assert upload(server.url, viewer_token, "credit-risk", "risk", bundle).status_code == 403

    moved = httpx.put(f"{base}/aliases/production", json={"version": 1}, headers=developer)
    assert moved.status_code == 200 and moved.json() == {"previous": None}
    assert httpx.get(f"{base}/aliases/production", headers=viewer).json()["version"] == 1
    bad = httpx.put(f"{base}/aliases/latest", json={"version": 1}, headers=developer)
    assert bad.status_code == 422 and "'latest'" in bad.json()["error"]["message"]

    # a developer of another project neither reads the model nor learns that it exists
    assert httpx.get(f"{base}/versions/1", headers=outsider).status_code == 403
    assert httpx.get(f"{server.url}{API}/models", headers=outsider).json() == []
    missing = httpx.get(f"{server.url}{API}/models/nope/latest", headers=outsider)
    assert missing.status_code == 404 and "credit-risk" not in missing.text
    # a model stays in its project: registering into another project needs a role in its own
    other_token = outsider["authorization"].split()[1]
    assert upload(server.url, other_token, "credit-risk", "other", bundle).status_code == 403


# project policies -----------------------------------------------------------------------------
def test_policies_are_validated_and_need_admin_to_change(server: Any) -> None:
    admin = headers(server.admin_token)
    assert httpx.put(f"{server.url}{API}/projects/risk", headers=admin).status_code == 200
    url = f"{server.url}{API}/projects/risk/policies"
    assert httpx.get(url, headers=admin).json() == {"project": "risk", "policies": []}

    wrong = httpx.put(url, json={"policies": [{"rule": "min_accuracy"}]}, headers=admin)
    assert wrong.status_code == 422 and "Unknown policy rule" in wrong.json()["error"]["message"]
    incomplete = httpx.put(url, json={"policies": [{"rule": "min_metric"}]}, headers=admin)
    assert incomplete.status_code == 422 and "needs metric" in incomplete.text

    rules = [{"rule": "card_field", "field": "intended_use"}]
    for role in ("viewer", "developer"):
        token = headers(server.make_token(role, "risk"))
        assert httpx.put(url, json={"policies": rules}, headers=token).status_code == 403
    reply = httpx.put(url, json={"policies": rules}, headers=admin)
    assert reply.status_code == 200, reply.text
    viewer = headers(server.make_token("viewer", "risk"))
    assert httpx.get(url, headers=viewer).json()["policies"] == [
        {"rule": "card_field", "field": "intended_use", "name": "card field intended_use"}
    ]
    missing = httpx.get(f"{server.url}{API}/projects/nope/policies", headers=admin)
    assert missing.status_code == 404


def test_a_server_policy_gates_promotion_from_the_sdk(
    bundle: Path, remote: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lepton.governance import configured_policies, use_policies

    monkeypatch.setenv("LEPTON_PROJECT", "risk")
    reset()
    version = lepton.register(bundle, "credit-risk")
    get_workspace().set_project_policies(  # type: ignore[attr-defined]
        "risk", [{"rule": "card_field", "field": "intended_use"}]
    )
    assert [p.name for p in configured_policies()] == ["card field intended_use"]
    with use_policies([]):  # a process cannot opt out of its team's policies
        assert [p.name for p in configured_policies()] == ["card field intended_use"]

    with pytest.raises(PolicyViolationError, match="intended_use"):
        registry.set_alias("credit-risk", "production", version.version)
    registry.set_alias("credit-risk", "staging", version.version)  # not a protected alias

    registry.update_card(version.ref, intended_use="Scoring loans")
    registry.set_alias("credit-risk", "production", version.version)
    last = get_workspace().alias_history("credit-risk")[-1]
    assert last["alias"] == "production"
    assert last["policy_results"][0]["passed"] is True


def test_the_server_refuses_a_promotion_that_skipped_the_policies(
    server: Any, bundle: Path
) -> None:
    admin = headers(server.admin_token)
    assert upload(server.url, server.admin_token, "credit-risk", "risk", bundle).status_code == 201
    rules = [{"rule": "card_field", "field": "intended_use"}]
    url = f"{server.url}{API}/projects/risk/policies"
    assert httpx.put(url, json={"policies": rules}, headers=admin).status_code == 200
    alias = f"{server.url}{API}/models/credit-risk/aliases/production"

    skipped = httpx.put(alias, json={"version": 1}, headers=admin)
    assert skipped.status_code == 403, skipped.text
    assert skipped.json()["error"]["code"] == "policy_violation"
    assert "card field intended_use" in skipped.json()["error"]["message"]
    overridden = httpx.put(
        alias, json={"version": 1, "override_reason": "incident fix"}, headers=admin
    )
    assert overridden.status_code == 200, overridden.text
    [event] = server.state.workspace.alias_history("credit-risk")
    assert event["override_reason"] == "incident fix" and event["actor"] == "admin"


def test_policy_errors_reach_the_sdk_as_the_same_exceptions(
    remote: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = get_workspace()
    workspace.ensure_project("risk")
    with pytest.raises(ConfigError, match="unknown keys"):
        workspace.set_project_policies("risk", [{"rule": "no_pii_features", "colour": "red"}])  # type: ignore[attr-defined]
    monkeypatch.setenv("LEPTON_TOKEN", remote.make_token("viewer", "risk"))
    reset()
    with pytest.raises(PermissionDeniedError, match="'admin' role"):
        get_workspace().set_project_policies("risk", [])  # type: ignore[attr-defined]
