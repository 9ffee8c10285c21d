"""Serving: a fast, safe HTTP server for any model bundle or registered model."""

from lepton.serving._app import InferenceApp, ServerOptions
from lepton.serving._server import serve

__all__ = ["InferenceApp", "ServerOptions", "serve"]
