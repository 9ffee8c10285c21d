"""Execution backends (DESIGN.md §4): ``local`` now; the only package that may import ray."""

from lepton.distributed._backend import BACKENDS, Backend, LocalBackend, get_backend

__all__ = ["BACKENDS", "Backend", "LocalBackend", "get_backend"]
