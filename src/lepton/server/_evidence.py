"""What the governance rules look at for one model version, read from the server's own store.

``lepton.check_policies`` reads a version's evaluation report, card and training data through
the process's workspace; inside the team server that is not the store it serves (in the tests
it is even a client of this very server). So the server runs the same rules
(``governance._policies._check``) on evidence it reads itself: the policy check that the
dashboard shows and sends with a promotion is the one the SDK would compute.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton.governance._policies import Policy, PolicyReport, _check, _Evidence
from lepton.registry import ModelVersion

if TYPE_CHECKING:
    from lepton.evaluation import EvaluationReport
    from lepton.registry._card import ModelCard
    from lepton.server._context import ServerState
    from lepton.workspace import DatasetVersionInfo, ModelVersionInfo

REPORT_PATH = "evaluation/report.json"  # where lepton.evaluate stores it on its run
PLOTS_FOLDER = "evaluation"  # the report's plot files are relative to this folder

# A dataset version is the sha256 of its content, so its PII scan never changes: scan each
# version once per process, not on every page view.
_PII_CACHE: dict[tuple[str, str], list[str]] = {}
_PII_CACHE_SIZE = 256
_pii_lock = threading.Lock()


def required_card_fields(policies: Iterable[Policy]) -> tuple[str, ...]:
    """The card fields a version must fill in on this server: the registry's defaults and
    those a ``card_field`` policy of the project asks for."""
    from lepton.registry._card import DEFAULT_REQUIRED

    fields = list(DEFAULT_REQUIRED)
    for policy in policies:
        if policy.rule == "card_field" and policy.field and policy.field not in fields:
            fields.append(policy.field)
    return tuple(fields)


class VersionEvidence(_Evidence):
    """A version's report, card and training-data PII, read from the server's store once and
    only when a rule or a page needs them."""

    def __init__(
        self, state: ServerState, info: ModelVersionInfo, required: tuple[str, ...]
    ) -> None:
        super().__init__(ModelVersion(info))
        self.state = state
        self.info = info
        self.required = required

    @cached_property
    def report_data(self) -> dict[str, Any] | None:
        """The stored report as JSON (metrics, fairness, the plots' file names), or None when
        none was registered or its run is gone."""
        if not self.info.evaluation_run_id:
            return None
        try:
            with self.state.workspace.open_artifact(
                self.info.evaluation_run_id, REPORT_PATH
            ) as stream:
                data: dict[str, Any] = json.loads(stream.read())
        except LookupError:
            return None
        return data

    @cached_property
    def report(self) -> EvaluationReport | None:
        from lepton.evaluation import EvaluationReport

        data = self.report_data
        return EvaluationReport.from_dict(data) if data is not None else None

    @cached_property
    def card(self) -> ModelCard:
        from lepton.registry._card import assemble_card

        return assemble_card(self.info, self.report, self.find_dataset, self.required)

    def find_dataset(self, name: str, version: str) -> DatasetVersionInfo:
        return self.state.workspace.get_dataset_version(name, version)

    @cached_property
    def pii_columns(self) -> dict[str, list[str]] | None:
        """Feature columns holding PII, per training dataset; None when the data is not registered."""
        schema = self.info.input_schema or {}
        features = {c["name"] for c in schema.get("columns", [])}
        found: dict[str, list[str]] = {}
        for item in self.info.datasets:
            try:
                stored = self.find_dataset(item["name"], item["version"])
            except LookupError:
                return None
            found[item["name"]] = sorted(set(_pii_columns(self.state, stored)) & features)
        return found

    def check(self, policies: Iterable[Policy]) -> PolicyReport:
        """The result of each policy for this version, as ``lepton.check_policies`` gives it."""
        return PolicyReport(self.info.ref, [_check(p, self) for p in policies])


def _pii_columns(state: ServerState, stored: DatasetVersionInfo) -> list[str]:
    """Columns of a stored dataset version that hold PII (its files are read once)."""
    from lepton.data._registry import from_version

    key = (stored.name, stored.version)
    with _pii_lock:
        if key in _PII_CACHE:
            return _PII_CACHE[key]
    with tempfile.TemporaryDirectory(prefix="lepton-pii-") as tmp:
        folder = Path(tmp)
        state.workspace.download_dataset(stored.name, stored.version, folder, stored.project)
        data = from_version(stored, folder)
        columns = sorted({f.column for f in data.scan_pii().findings})
    with _pii_lock:
        if len(_PII_CACHE) >= _PII_CACHE_SIZE:
            _PII_CACHE.pop(next(iter(_PII_CACHE)))
        _PII_CACHE[key] = columns
    return columns
