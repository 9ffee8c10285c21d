"""``lepton.predict_batch``: score a large table in parallel into a folder of Parquet parts.

    result = lepton.predict_batch("credit@production", "applications.parquet", output="scores/")
    result.to_pandas()   # row, prediction, proba_<class>... in input order

The rows are cut into fixed chunks; each chunk becomes one Parquet part, written whole or not
at all, so an interrupted run picks up where it stopped. Chunks are scored by worker processes
on this machine (``backend="local"``) or by Ray Data actors on a cluster (``backend="ray"``);
the output is the same either way.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton.errors import InvalidParameterError, LeptonError

if TYPE_CHECKING:
    import pandas as pd

    from lepton.distributed import Backend
    from lepton.scoring._chunks import Chunk, OutputFolder
    from lepton.scoring._input import ScoringInput
    from lepton.scoring._model_source import ModelSource
    from lepton.scoring._result import BatchPrediction

DEFAULT_BATCH_SIZE = 10_000


def predict_batch(
    model_ref: Any,
    data: Any,
    output: str | os.PathLike[str],
    *,
    backend: str | Backend | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    resume: bool = True,
    verbose: Any = "auto",
) -> BatchPrediction:
    """Score every row of ``data`` with a model, in parallel, into a folder of Parquet files.

    Each output row holds ``row`` (the input row, 0-based), the input's ``id`` column if it
    has one, ``prediction``, and for classifiers ``proba_<class>`` for every class.

    Args:
        model_ref: a registry reference (``"name"``, ``"name:3"``, ``"name@production"``), a
            bundle path, ``runs:/RUN_ID/model.lepton``, a trained Model or a TrainResult.
        data: a Dataset, a DataFrame, a CSV/Parquet path or a registered dataset
            ``"NAME[:VERSION]"``; it must hold the columns the model was trained on.
        output: a folder (created if need be) for ``part-NNNNN.parquet`` files, one per chunk,
            and ``_lepton.json``; ``pandas.read_parquet(output)`` reads them all.
        backend: ``"local"`` (worker processes on this machine), ``"ray"`` (Ray Data on the
            cluster of ``LEPTON_RAY_ADDRESS``) or a backend object; default: the configured one.
        batch_size: rows per chunk: the unit of work, of output files and of resume.
        workers: parallel workers; ``workers=1`` scores in this process. Default on Ray:
            ``ray.workers``; locally: the first chunk is scored in this process and one worker
            process per CPU is started for the rest only when, at that speed, the rest would
            take longer than starting them (seconds: a cheap model is fastest in process).
        resume: keep the chunks an earlier run of the same model, data and batch_size finished
            in ``output`` and score only the rest. ``False`` replaces them.
        verbose: ``"auto"`` (a progress bar on a terminal), 0 to silence, 2 for plain lines.

    Returns:
        BatchPrediction: the output folder, rows, chunks scored and skipped, timing;
        ``to_pandas()`` reads the predictions back.

    Raises:
        InvalidParameterError: a bad argument, an output that is a file or cannot be written.
        ModelNotFoundError: no model of that name, path or run.
        DataError: the data lacks columns the model reads (the message names them).
        OutputConflictError: ``output`` holds predictions of another model, data or batch size
            (pass ``resume=False``), or files that are not predictions.
        ScoringError: a chunk failed; the finished ones are kept for the next run.

    Example:
        >>> result = lepton.predict_batch(model, valid, output="scores/", workers=1)
    """
    from lepton.distributed import get_backend
    from lepton.scoring._chunks import OutputFolder
    from lepton.scoring._input import open_data
    from lepton.scoring._model_source import open_model
    from lepton.training._progress import Progress

    _check_options(batch_size, workers, resume)
    progress = Progress("predict", verbose)
    folder = OutputFolder(output)
    chosen = get_backend(backend)
    with open_model(model_ref) as source:
        rows = open_data(data)
        return _run(source, rows, folder, chosen, batch_size, workers, resume, progress)


def _run(
    source: ModelSource,
    data: ScoringInput,
    folder: OutputFolder,
    backend: Backend,
    batch_size: int,
    workers: int | None,
    resume: bool,
    progress: Any,
) -> BatchPrediction:
    from lepton.scoring._chunks import identity, plan_chunks
    from lepton.scoring._input import check_inputs
    from lepton.scoring._result import BatchPrediction
    from lepton.scoring._scorer import ID_COLUMN, output_columns

    needed = check_inputs(source.model, data.frame, source.ref)
    keep_id = ID_COLUMN in data.frame.columns
    columns = [*needed, *([ID_COLUMN] if keep_id and ID_COLUMN not in needed else [])]
    out_columns = output_columns(source.model, keep_id)
    chunks = plan_chunks(data.rows, batch_size)
    done = folder.prepare(
        identity(
            model_ref=source.ref,
            fingerprint=source.fingerprint,
            data_name=data.name,
            data_version=data.version,
            rows=data.rows,
            chunk_rows=batch_size,
            columns=out_columns,
        ),
        resume=resume,
    )
    pending = [c for c in chunks if c.index not in done]
    if backend.name == "ray":
        workers = workers or int(getattr(backend, "num_workers", 1))
    progress.title = f"predict {Path(folder.path).name}"
    if done:
        progress.status(f"resuming: {len(done)} of {len(chunks)} chunks already scored")

    finished = [len(chunks) - len(pending)]

    def write(chunk: Chunk, frame: pd.DataFrame) -> None:
        folder.write_part(chunk.index, frame[out_columns])
        finished[0] += 1
        progress.step(finished[0], len(chunks), {}, every=max(1, len(chunks) // 10), unit="chunk")

    started = time.perf_counter()
    try:
        if pending and backend.name == "ray":
            assert workers is not None  # ray.workers by default, above
            _score_on_ray(
                source, data, columns, pending, backend, workers, keep_id, batch_size, write
            )
        elif pending:
            from lepton.scoring._local import score_locally

            workers = score_locally(
                source,
                data.frame,
                columns,
                pending,
                workers=workers,
                keep_id=keep_id,
                on_chunk=write,
            )
    finally:
        progress.close()
    seconds = time.perf_counter() - started
    folder.mark_complete()
    result = BatchPrediction(
        output=folder.path,
        model=source.ref,
        data=f"{data.name}:{data.version[:8]}",
        backend=backend.name,
        rows=data.rows,
        rows_scored=sum(c.rows for c in pending),
        chunks=len(chunks),
        chunks_scored=len(pending),
        chunks_skipped=len(chunks) - len(pending),
        workers=workers or 1,
        seconds=seconds,
        columns=tuple(out_columns),
    )
    progress.status(
        f"{result.rows_scored} rows in {len(pending)} chunks ({result.chunks_skipped} resumed) "
        f"in {seconds:.1f}s -> {folder.path}"
    )
    return result


def _score_on_ray(
    source: ModelSource,
    data: ScoringInput,
    columns: list[str],
    pending: list[Chunk],
    backend: Backend,
    workers: int,
    keep_id: bool,
    batch_size: int,
    write: Any,
) -> None:
    """Score on Ray Data; outputs come back in batches of any size, so rows are gathered per
    chunk and a chunk is written once all its rows are in."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from lepton.distributed._ray_data import score_on_ray
    from lepton.scoring._errors import ScoringError
    from lepton.scoring._local import RESUME_HINT, slice_chunk
    from lepton.scoring._scorer import ROW, ChunkScorer

    by_index = {c.index: c for c in pending}
    gathered: dict[int, list[pd.DataFrame]] = {}

    def on_batch(batch: pd.DataFrame) -> None:
        # Ray Data hands back Arrow-backed columns (double[pyarrow]); the local backend's parts
        # hold plain numpy ones: convert, so both write the same Parquet schema
        batch = pa.Table.from_pandas(batch, preserve_index=False).to_pandas(ignore_metadata=True)
        owner = batch[ROW].to_numpy() // batch_size
        for index in (int(i) for i in np.unique(owner)):
            pieces = gathered.setdefault(index, [])
            pieces.append(batch[owner == index])
            chunk = by_index[index]
            if sum(len(p) for p in pieces) == chunk.rows:
                frame = pd.concat(gathered.pop(index)).sort_values(ROW, kind="stable")
                write(chunk, frame.reset_index(drop=True))

    try:
        score_on_ray(
            backend,  # type: ignore[arg-type]
            [slice_chunk(data.frame, columns, c) for c in pending],
            ChunkScorer,
            (source.bundle_bytes(), keep_id),
            workers=workers,
            on_batch=on_batch,
        )
    except LeptonError:
        raise
    except Exception as exc:
        # Ray wraps the actor's error and drops its cause; the scorer's one-line message is
        # still in the text
        found = re.search(r"ScoringError: (Rows \d+-\d+ could not be scored: [^\n]*)", str(exc))
        what = found.group(1) if found else f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        raise ScoringError(f"Scoring on Ray failed: {what.rstrip('.')}. {RESUME_HINT}") from exc


def _check_options(batch_size: Any, workers: Any, resume: Any) -> None:
    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    if not whole(batch_size):
        raise InvalidParameterError(
            f"batch_size must be a whole number of rows >= 1 per chunk, got {batch_size!r}; "
            f"the default is {DEFAULT_BATCH_SIZE}."
        )
    if workers is not None and not whole(workers):
        raise InvalidParameterError(
            f"workers must be a whole number >= 1 (or None: one per CPU), got {workers!r}."
        )
    if not isinstance(resume, bool):
        raise InvalidParameterError(f"resume must be True or False, got {resume!r}.")
