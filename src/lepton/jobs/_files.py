"""A job's files under the server's home: ``jobs/ID.log`` (what its process printed, plus the
scheduler's lines about each attempt), ``jobs/ID.result.json`` (what the last attempt produced)
and ``jobs/ID/``, the process's working folder."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

LOG_CHUNK = 1 << 20  # the most one logs request returns


@dataclass(frozen=True)
class AttemptResult:
    """Written by the job's process as its last act: the run and model it made, or its error."""

    ok: bool
    run_id: str | None = None
    model_ref: str | None = None
    error: str | None = None


def jobs_folder(home: Path) -> Path:
    return Path(home) / "jobs"


def log_path(home: Path, job_id: str) -> Path:
    return jobs_folder(home) / f"{job_id}.log"


def result_path(home: Path, job_id: str) -> Path:
    return jobs_folder(home) / f"{job_id}.result.json"


def work_dir(home: Path, job_id: str) -> Path:
    return jobs_folder(home) / job_id


def append_log(home: Path, job_id: str, line: str) -> None:
    """One line of the scheduler's own in the job's log (attempts, retries, cancels)."""
    path = log_path(home, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(path, "ab") as out:
        out.write(f"--- {stamp} {line}\n".encode())


def write_result(home: Path, job_id: str, result: AttemptResult) -> None:
    """Atomically, so the scheduler never reads half a file."""
    path = result_path(home, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(f".{os.getpid()}.tmp")
    staging.write_text(json.dumps(asdict(result)), encoding="utf-8")
    os.replace(staging, path)


def read_result(home: Path, job_id: str) -> AttemptResult | None:
    """The last attempt's result, or None when its process ended without writing one."""
    try:
        values = json.loads(result_path(home, job_id).read_text(encoding="utf-8"))
        return AttemptResult(
            ok=bool(values["ok"]),
            run_id=values.get("run_id"),
            model_ref=values.get("model_ref"),
            error=values.get("error"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def clear_result(home: Path, job_id: str) -> None:
    result_path(home, job_id).unlink(missing_ok=True)


def read_log(
    home: Path, job_id: str, offset: int, limit: int = LOG_CHUNK, complete: bool = False
) -> tuple[str, int, bool]:
    """Text of the log from byte ``offset``, the offset to ask from next, and whether that is
    the end of the file.

    While the job runs, a read may end in the middle of a UTF-8 character its process is still
    writing; those bytes are left for the next read. ``complete`` (the job has ended) decodes
    whatever is there.
    """
    path = log_path(home, job_id)
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            data = log.read(limit + 1)  # one byte more tells whether the end was reached
    except FileNotFoundError:
        return "", offset, True
    at_end = len(data) <= limit
    data = data[:limit]
    if not (complete and at_end):
        whole = whole_characters(data)
        at_end = at_end and whole == len(data)
        data = data[:whole]
    return data.decode("utf-8", errors="replace"), offset + len(data), at_end


def whole_characters(data: bytes) -> int:
    """The length of the longest prefix of ``data`` that does not end inside a UTF-8 character."""
    end = len(data)
    lead = end - 1
    while lead >= 0 and end - lead < 4 and data[lead] & 0xC0 == 0x80:
        lead -= 1  # step back over continuation bytes to the character's first byte
    if lead < 0:
        return end
    first = data[lead]
    if first >> 5 == 0b110:
        size = 2
    elif first >> 4 == 0b1110:
        size = 3
    elif first >> 3 == 0b11110:
        size = 4
    else:
        size = 1  # ASCII, or bytes that are not UTF-8: nothing to wait for
    return end if end - lead >= size else lead
