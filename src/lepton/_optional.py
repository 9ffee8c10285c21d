"""Lazy imports of heavy or optional packages, with an install hint when one is missing.

``import lepton`` must stay fast, so torch, sklearn, lightgbm, fastapi, sqlalchemy and ray are
imported inside the functions that use them, through :func:`require`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from lepton.errors import MissingDependencyError

# module -> the extra of lepton-ai-sdk that installs it
_EXTRA_OF = {
    "torch": "torch",
    "torchvision": "torch",
    "safetensors": "torch",
    "tensorboard": "torch",
    "fastapi": "serve",
    "uvicorn": "serve",
    "httpx": "serve",
    "prometheus_client": "serve",
    "orjson": "serve",
    "psycopg": "server",
    "boto3": "server",
    "botocore": "server",
    "cryptography": "server",
    "jinja2": "server",
    "ray": "ray",
    "optuna": "tune",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "skl2onnx": "onnx",
    "onnxmltools": "onnx",
}


def install_hint(module: str) -> str:
    """The pip command that installs ``module`` for Lepton."""
    top = module.split(".")[0]
    extra = _EXTRA_OF.get(top)
    if extra:
        return f'pip install "lepton-ai-sdk[{extra}]"'
    return f"pip install {top}"


def require(module: str, *, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the fix.

    Args:
        module: dotted module name, e.g. ``"torch"`` or ``"boto3"``.
        purpose: what the caller needs it for, shown in the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        need = f" to {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"The package {module.split('.')[0]!r} is needed{need} but is not installed "
            f"({exc}). Install it with: {install_hint(module)}"
        ) from exc
