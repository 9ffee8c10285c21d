"""The drift of a deployment's sampled requests against its model's training data, read from
the workspace it is given: the process's (``lepton.deployments.drift``), a control plane's
own, or the team server's (``GET /deployments/{name}/drift``). Inside the server, the
process's workspace is not the store it serves, so the workspace is always passed in.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lepton.models import Model
    from lepton.monitoring import DriftReport
    from lepton.workspace import ModelVersionInfo

# loaded models stay for the next drift request (the control plane asks every 30 s); a few,
# they can be large. A bundle's sha256 is part of the key, so two stores never share a model
# unless they hold the very same bundle.
_MODELS: OrderedDict[tuple[str, int, str], Model] = OrderedDict()
_MODELS_KEPT = 4
_LOADING = threading.Lock()

NO_REFERENCE = (
    "The model has no training reference (only table models keep one); drift cannot be measured."
)


def drift_of(workspace: Any, name: str, since: float = 0.0) -> DriftReport:
    """PSI and KS per feature (and of the predictions) of deployment ``name``'s sampled
    requests since ``since`` (a unix time; 0: every sample kept) against the training data of
    the model version it serves, all read from ``workspace``.

    Raises:
        DeploymentNotFoundError: no deployment ``name`` in ``workspace``.
        IntegrityError: the stored bundle does not match the sha256 recorded at registration.
    """
    from lepton.monitoring._drift import DriftReport, compare
    from lepton.serving._predictor import Predictor

    info = workspace.get_deployment(name)
    version = workspace.get_model_version(info.model_name, version=info.model_version)
    model = _model(workspace, version)
    samples = workspace.request_samples(name, since=since)
    if model.reference is None:
        return DriftReport(name, len(samples), note=NO_REFERENCE)
    columns = [c["name"] for c in (model.input_schema or {}).get("columns", [])]
    predictor = Predictor(model)
    return compare(
        name, model.reference, columns, samples, predict=lambda rows: predictor.predict(rows)[0]
    )


def training_example(workspace: Any, version: ModelVersionInfo) -> dict[str, Any]:
    """One row of the training sample kept in ``version``'s bundle for drift checks (table
    models only; text, images and PII columns are never kept), by feature; {} without one."""
    reference = _model(workspace, version).reference or {}
    return {
        column: spec["sample"][0]
        for column, spec in reference.get("columns", {}).items()
        if spec.get("sample")
    }


def _model(workspace: Any, version: ModelVersionInfo) -> Model:
    """The model of ``version`` from ``workspace``, verified by hash, kept for the next call."""
    from lepton.registry._registry import _load_version

    key = (version.name, version.version, version.bundle_sha256)
    with _LOADING:  # one load at a time: two drift requests must not load the same model twice
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
        model = _load_version(version, workspace)
        _MODELS[key] = model
        while len(_MODELS) > _MODELS_KEPT:
            _MODELS.popitem(last=False)
        return model
