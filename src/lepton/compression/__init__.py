"""Compression: ONNX export with a parity check, dynamic int8 quantisation, magnitude pruning.

``lepton.compress(model, method="onnx" | "quantize" | "prune", data=...)`` returns a
:class:`CompressionResult`: the new model (tracked as a run, lineage pointing to its parent)
and a before/after table of size, latency and the task metric.
"""

from lepton.compression._compress import compress
from lepton.compression._result import CompressionResult
from lepton.compression._support import METHODS, SUPPORTED, CompressionError

__all__ = ["METHODS", "SUPPORTED", "CompressionError", "CompressionResult", "compress"]
