"""The audit trail as a hash chain: each entry's hash covers its own fields and the hash of the
entry before it, and a head row holds the newest entry. Editing an entry breaks its hash,
deleting one breaks the chain (or the head), so ``verify`` finds any change made to the
database behind the server's back."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from lepton.store import _schema as t

if TYPE_CHECKING:
    from lepton.store import MetadataStore

GENESIS = "0" * 64
_FIELDS = (
    "seq",
    "ts",
    "actor",
    "action",
    "target",
    "project",
    "source",
    "outcome",
    "status_code",
    "details",
)


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    ts: float
    actor: str
    action: str
    target: str
    project: str | None
    source: str
    outcome: str  # ok, denied or failed
    status_code: int
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    entries: int
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def entry_hash(prev_hash: str, values: dict[str, Any]) -> str:
    """SHA-256 of the previous hash and the entry's fields in a canonical JSON form."""
    canonical = json.dumps(
        [values[name] for name in _FIELDS], sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


class AuditLog:
    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    def append(
        self,
        *,
        actor: str,
        action: str,
        target: str,
        project: str | None,
        source: str,
        outcome: str,
        status_code: int,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Add an entry after the head; the head row's lock serialises concurrent writers."""
        with self.meta.write() as conn:
            head = conn.execute(
                select(t.audit_head).where(t.audit_head.c.id == 1).with_for_update()
            ).one()
            values: dict[str, Any] = {
                "seq": head.seq + 1,
                "ts": time.time(),
                "actor": actor[:100],
                "action": action[:200],
                "target": target,
                "project": project,
                "source": source[:100],
                "outcome": outcome,
                "status_code": status_code,
                "details": details or {},
            }
            digest = entry_hash(head.hash, values)
            conn.execute(insert(t.audit_log).values(**values, prev_hash=head.hash, hash=digest))
            conn.execute(
                update(t.audit_head)
                .where(t.audit_head.c.id == 1)
                .values(seq=values["seq"], hash=digest)
            )
        return AuditEntry(**values, prev_hash=head.hash, hash=digest)

    def list(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        actor: str | None = None,
        project: str | None = None,
        outcome: str | None = None,
        since: float | None = None,
    ) -> list[AuditEntry]:
        """Entries, newest first, optionally filtered."""
        query = select(t.audit_log)
        if actor:
            query = query.where(t.audit_log.c.actor == actor)
        if project:
            query = query.where(t.audit_log.c.project == project)
        if outcome:
            query = query.where(t.audit_log.c.outcome == outcome)
        if since:
            query = query.where(t.audit_log.c.ts >= since)
        query = query.order_by(t.audit_log.c.seq.desc()).limit(limit).offset(offset)
        with self.meta.read() as conn:
            return [AuditEntry(**row._mapping) for row in conn.execute(query)]

    def verify(self, page: int = 5000) -> AuditReport:
        """Recompute the chain from the first entry; report every break found."""
        problems: list[str] = []
        expected_seq, prev_hash, count = 1, GENESIS, 0
        with self.meta.read() as conn:
            if conn.dialect.name == "postgresql":
                # one snapshot for the head and every page, or entries appended while the
                # check runs would read as a mismatch with the head (SQLite's read
                # transaction is a snapshot already)
                conn.execution_options(isolation_level="REPEATABLE READ")
            head = conn.execute(select(t.audit_head).where(t.audit_head.c.id == 1)).first()
            last_seq = 0
            while True:
                rows = conn.execute(
                    select(t.audit_log)
                    .where(t.audit_log.c.seq > last_seq)
                    .order_by(t.audit_log.c.seq)
                    .limit(page)
                ).all()
                if not rows:
                    break
                for row in rows:
                    entry = row._mapping
                    count += 1
                    if entry["seq"] != expected_seq:
                        problems.append(_missing(expected_seq, entry["seq"] - 1))
                    if entry["prev_hash"] != prev_hash:
                        problems.append(f"entry {entry['seq']} does not follow the entry before it")
                    if entry_hash(entry["prev_hash"], dict(entry)) != entry["hash"]:
                        problems.append(f"entry {entry['seq']} was changed after it was written")
                    expected_seq, prev_hash = entry["seq"] + 1, entry["hash"]
                last_seq = rows[-1].seq
        last = expected_seq - 1
        if head is None:
            problems.append("the chain's head record is missing (deleted)")
        elif head.seq > last:
            problems.append(
                f"{_missing(last + 1, head.seq)}: the head of the chain says entry {head.seq}, "
                f"the log ends at entry {last}"
            )
        elif head.seq < last:
            added = (
                f"entry {last} was"
                if last == head.seq + 1
                else f"entries {head.seq + 1}..{last} were"
            )
            problems.append(
                f"{added} added behind the server's back: the head of the chain says entry "
                f"{head.seq}"
            )
        elif head.hash != prev_hash:
            problems.append(f"entry {last} is not the entry the head of the chain recorded")
        return AuditReport(not problems, count, problems)


def _missing(first: int, last: int) -> str:
    if first == last:
        return f"entry {first} is missing (deleted)"
    return f"entries {first}..{last} are missing (deleted)"
