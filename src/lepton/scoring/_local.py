"""``backend="local"``: chunks scored in this process, or by a pool of worker processes.

Workers are started with ``spawn``, never ``fork``: forking a process that already holds
onnxruntime or LightGBM thread pools can hang the child. A spawned child normally re-runs the
parent's ``__main__`` (a user's script, whose top level would call predict_batch again): the
main module is hidden while workers start, since they need nothing but lepton. Each worker loads the bundle once
(the pool's initializer) and then scores chunk after chunk; the driver writes every part, so
the output folder has one writer.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import types
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import TYPE_CHECKING

from lepton.scoring._scorer import ROW, ChunkScorer, limit_threads

if TYPE_CHECKING:
    import pandas as pd

    from lepton.scoring._chunks import Chunk
    from lepton.scoring._model_source import ModelSource

OnChunk = Callable[["Chunk", "pd.DataFrame"], None]

_worker_scorer: ChunkScorer | None = None  # the model a worker process loaded at start
#: what starting worker processes costs (spawn, import lepton and the model's library, load the
#: bundle): 4-8 s for 2 workers on the 2-CPU machine of docs/benchmarks.md, where they made a
#: cheap model's 200,000 rows 20x slower than scoring them in process
WORKER_START_S = 5.0


def slice_chunk(frame: pd.DataFrame, columns: Sequence[str], chunk: Chunk) -> pd.DataFrame:
    """The chunk's rows: the model's input columns and the ``row`` index."""
    part = frame.iloc[chunk.start : chunk.stop][list(columns)].copy()
    part.insert(0, ROW, range(chunk.start, chunk.stop))
    return part


def score_locally(
    source: ModelSource,
    frame: pd.DataFrame,
    columns: Sequence[str],
    chunks: Sequence[Chunk],
    *,
    workers: int | None,
    keep_id: bool,
    on_chunk: OnChunk,
) -> int:
    """Score ``chunks`` of ``frame``; call ``on_chunk`` as each one finishes (in any order).

    ``workers=None`` decides by measurement: the first chunk is scored here, and worker
    processes (one per CPU) are started for the rest only when the rest would take longer at
    that speed than starting them. Returns how many processes scored.
    """
    scorer: ChunkScorer | None = None
    if workers is None:
        scorer = ChunkScorer(source.model, keep_id)
        first, chunks = chunks[0], chunks[1:]
        started = time.perf_counter()
        on_chunk(first, _guarded(scorer, slice_chunk(frame, columns, first), first))
        rest = (time.perf_counter() - started) * len(chunks)
        workers = 1 if rest < WORKER_START_S else max(1, min(os.cpu_count() or 1, len(chunks)))
    if workers == 1 or len(chunks) <= 1:
        scorer = scorer or ChunkScorer(source.model, keep_id)
        for chunk in chunks:
            on_chunk(chunk, _guarded(scorer, slice_chunk(frame, columns, chunk), chunk))
        return 1
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(chunks)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(str(source.path), keep_id),
    )
    try:
        # a few chunks in flight per worker: enough to keep them busy, without copying the
        # whole table into the pool's queue at once
        pending = list(chunks)[::-1]
        running: dict[Future[pd.DataFrame], Chunk] = {}
        while pending or running:
            while pending and len(running) < 2 * workers:
                chunk = pending.pop()
                with _main_module_hidden():  # the pool starts a worker inside submit()
                    future = pool.submit(_score, slice_chunk(frame, columns, chunk))
                running[future] = chunk
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                chunk = running.pop(future)
                on_chunk(chunk, _result(future, chunk))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return min(workers, len(chunks))


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")  # no file, no spec: nothing to re-run
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _start_worker(bundle: str, keep_id: bool) -> None:
    global _worker_scorer
    limit_threads()
    _worker_scorer = ChunkScorer(bundle, keep_id)


def _score(batch: pd.DataFrame) -> pd.DataFrame:
    assert _worker_scorer is not None, "the pool initializer loads the model"
    return _worker_scorer(batch)


def _guarded(scorer: ChunkScorer, batch: pd.DataFrame, chunk: Chunk) -> pd.DataFrame:
    from lepton.scoring._errors import ScoringError

    try:
        return scorer(batch)
    except ScoringError as exc:
        raise chunk_failed(chunk, exc) from exc


def _result(future: Future[pd.DataFrame], chunk: Chunk) -> pd.DataFrame:
    try:
        return future.result()
    except Exception as exc:
        raise chunk_failed(chunk, exc) from exc


def chunk_failed(chunk: Chunk, exc: BaseException) -> Exception:
    from lepton.scoring._errors import ScoringError

    if isinstance(exc, ScoringError):
        what = str(exc)
    else:  # the pool broke: a worker died before it could say why
        what = (
            f"Rows {chunk.start}-{chunk.stop - 1} could not be scored: a worker process died "
            f"({type(exc).__name__}: out of memory, or killed)"
        )
    return ScoringError(f"{what.rstrip('.')}. {RESUME_HINT}")


RESUME_HINT = (
    "The chunks finished before it are kept: fix the cause and run the same command again "
    "to score only the rest."
)
