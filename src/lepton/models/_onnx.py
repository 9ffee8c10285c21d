"""The ONNX engine a model can swap in for its own library: a graph run by onnxruntime on CPU.

A model with ``model.runtime`` set keeps its class, preprocessing and outputs; only the step
from features (or image/text tensors) to probabilities or values runs through the graph. The
graph is saved in the bundle as ``model.onnx`` (a protobuf of operators and tensors: nothing in
it is executed as Python), listed with its sha256 like every other file.
"""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

ONNX_FILE = "model.onnx"

# every OnnxRuntime of this process, and the sessions a forked child must never destroy
_RUNTIMES: weakref.WeakSet[OnnxRuntime] = weakref.WeakSet()
_KEPT_IN_CHILD: list[Any] = []


def _after_fork_in_child() -> None:
    """A forked child (a DataLoader worker, say) must not destroy the parent's sessions: their
    destructor joins thread-pool threads that do not exist in the child and hangs forever
    (seen: a CNN's image-loader worker stuck when the garbage collector freed a session). The
    child keeps them untouched and builds its own session if it ever runs a graph."""
    for runtime in list(_RUNTIMES):
        if runtime._session is not None:
            _KEPT_IN_CHILD.append(runtime._session)
            runtime._session = None
        runtime._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class OnnxRuntime:
    """An ONNX graph and its lazily created ``onnxruntime.InferenceSession`` (CPU provider).

    ``run(*arrays)`` feeds the graph's inputs in order and returns the one output a model needs:
    ``probabilities`` when the graph has it (scikit-learn and LightGBM classifiers also output
    labels), else the first output.
    """

    def __init__(self, graph: bytes) -> None:
        self.graph = bytes(graph)
        self._session: Any = None
        self._lock = threading.Lock()
        _RUNTIMES.add(self)

    @property
    def size_bytes(self) -> int:
        return len(self.graph)

    @property
    def session(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = _new_session(self.graph)
        return self._session

    def run(self, *arrays: np.ndarray) -> np.ndarray:
        session = self.session
        inputs = session.get_inputs()
        feeds = {spec.name: array for spec, array in zip(inputs, arrays, strict=True)}
        names = [o.name for o in session.get_outputs()]
        wanted = "probabilities" if "probabilities" in names else names[0]
        (output,) = session.run([wanted], feeds)
        return np.asarray(output)

    def save(self, folder: Path) -> list[str]:
        (Path(folder) / ONNX_FILE).write_bytes(self.graph)
        return [ONNX_FILE]

    @classmethod
    def load(cls, folder: Path) -> OnnxRuntime | None:
        """The graph saved in ``folder``, or None when the bundle holds no ``model.onnx``."""
        path = Path(folder) / ONNX_FILE
        return cls(path.read_bytes()) if path.is_file() else None

    # a session cannot be pickled or copied; a copy builds its own when first run
    def __getstate__(self) -> dict[str, Any]:
        return {"graph": self.graph}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["graph"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"OnnxRuntime({self.size_bytes:,} bytes)"


def _new_session(graph: bytes) -> Any:
    from lepton._optional import require

    ort = require("onnxruntime", purpose="run an ONNX model")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: ORT logs graph rewrites as warnings on stderr
    # ORT's threads otherwise busy-wait for a while after each run, holding cores that torch,
    # the serving loop or other processes need (onnxruntime's advice where CPUs are shared)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def torch_net(runtime: OnnxRuntime) -> Any:
    """A ``torch.nn.Module`` whose forward runs ``runtime``: torch models keep their own
    batching, softmax and target scaling around it (see ``TorchModel.net``)."""
    import torch
    from torch import nn

    class OnnxNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.runtime = runtime

        def forward(self, x: Any) -> torch.Tensor:
            parts = x if isinstance(x, tuple | list) else (x,)
            arrays = [np.ascontiguousarray(p.detach().cpu().numpy()) for p in parts]
            return torch.from_numpy(np.ascontiguousarray(self.runtime.run(*arrays)))

        def __reduce__(self) -> tuple[Any, ...]:  # pickled and copied as "torch_net(runtime)"
            return torch_net, (self.runtime,)

    return OnnxNet()
