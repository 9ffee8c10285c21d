"""What ``lepton.predict_batch`` returns: where the predictions are and how the run went."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class BatchPrediction:
    """The output folder of a batch scoring and its numbers.

    ``to_pandas()`` reads the predictions back, in input row order.
    """

    output: Path  # a folder of part-NNNNN.parquet files and _lepton.json
    model: str  # the model reference as resolved (e.g. "credit:3")
    data: str  # the data's name and version
    backend: str
    rows: int  # rows of the input
    rows_scored: int  # rows scored by this call (the rest were done by an earlier one)
    chunks: int
    chunks_scored: int
    chunks_skipped: int  # finished by an earlier call: a resume
    workers: int
    seconds: float
    columns: tuple[str, ...]

    @property
    def rows_per_s(self) -> float:
        return self.rows_scored / self.seconds if self.seconds > 0 else 0.0

    def to_pandas(self) -> pd.DataFrame:
        """All predictions, sorted by input row."""
        import pandas as pd

        frame = pd.read_parquet(self.output)
        return frame.sort_values("row", kind="stable").reset_index(drop=True)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (what ``lepton predict --json`` prints)."""
        return {
            "output": str(self.output),
            "model": self.model,
            "data": self.data,
            "backend": self.backend,
            "rows": self.rows,
            "rows_scored": self.rows_scored,
            "chunks": self.chunks,
            "chunks_scored": self.chunks_scored,
            "chunks_skipped": self.chunks_skipped,
            "workers": self.workers,
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.rows_per_s, 1),
            "columns": list(self.columns),
        }

    def __repr__(self) -> str:
        skipped = f", {self.chunks_skipped} resumed" if self.chunks_skipped else ""
        return (
            f"BatchPrediction({str(self.output)!r}, model={self.model!r}, rows={self.rows}, "
            f"chunks={self.chunks_scored}/{self.chunks}{skipped}, backend={self.backend!r}, "
            f"{self.seconds:.1f}s, {self.rows_per_s:.0f} rows/s)"
        )
