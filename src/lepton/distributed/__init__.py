"""Execution backends (DESIGN.md §4): ``local`` and ``ray``; the only package that imports ray."""

from lepton.distributed._backend import BACKENDS, Backend, LocalBackend, get_backend
from lepton.distributed._ray import RayBackend

__all__ = ["BACKENDS", "Backend", "LocalBackend", "RayBackend", "get_backend"]
