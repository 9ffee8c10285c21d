"""The audit trail's hash chain over a real metadata store (SQLite, and PostgreSQL): entries
chain, filters work, and ``verify`` names every kind of change made to the tables directly."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from lepton.security import AuditLog
from lepton.security._audit import GENESIS, entry_hash
from lepton.store import MetadataStore
from lepton.store import _schema as t


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def audit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditLog]:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_db_url")
    else:
        url = f"sqlite:///{tmp_path / 'lepton.db'}"
    meta = MetadataStore(url)
    yield AuditLog(meta)
    meta.engine.dispose()


def record(audit: AuditLog, count: int, **overrides: Any) -> None:
    for i in range(count):
        values: dict[str, Any] = {
            "actor": "ada",
            "action": "POST /projects",
            "target": f"/api/v1/projects/{i}",
            "project": "p1",
            "source": "127.0.0.1",
            "outcome": "ok",
            "status_code": 201,
            "details": {"n": i, "user": "bob"},
        }
        audit.append(**{**values, **overrides})


def change(audit: AuditLog, statement: Any) -> None:
    """What someone with access to the database does behind the server's back."""
    with audit.meta.write() as conn:
        conn.execute(statement)


def test_entries_form_a_chain_from_the_genesis_hash(audit: AuditLog) -> None:
    record(audit, 3)
    entries = list(reversed(audit.list()))
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert entries[2].details == {"n": 2, "user": "bob"}
    report = audit.verify()
    assert (report.ok, report.entries, report.problems) == (True, 3, [])


def test_the_hash_does_not_depend_on_the_order_of_detail_keys() -> None:
    values = {
        "seq": 1,
        "ts": 1.5,
        "actor": "a",
        "action": "b",
        "target": "c",
        "project": None,
        "source": "d",
        "outcome": "ok",
        "status_code": 200,
    }
    first = entry_hash(GENESIS, {**values, "details": {"x": 1, "y": 2}})
    assert first == entry_hash(GENESIS, {**values, "details": {"y": 2, "x": 1}})
    assert first != entry_hash(GENESIS, {**values, "details": {"x": 1, "y": 3}})
    assert first != entry_hash("1" * 64, {**values, "details": {"x": 1, "y": 2}})


def test_list_filters_newest_first(audit: AuditLog) -> None:
    record(audit, 2)
    record(audit, 1, actor="anonymous", outcome="denied", status_code=401, project=None)
    record(audit, 1, actor="bob", project="p2", outcome="failed", status_code=404)
    assert [e.seq for e in audit.list()] == [4, 3, 2, 1]
    assert [e.seq for e in audit.list(limit=2, offset=1)] == [3, 2]
    assert [e.seq for e in audit.list(actor="ada")] == [2, 1]
    assert [e.seq for e in audit.list(project="p2")] == [4]
    assert [e.seq for e in audit.list(outcome="denied")] == [3]
    newest = audit.list(limit=1)[0]
    assert [e.seq for e in audit.list(since=newest.ts)] == [4]
    assert audit.list(since=newest.ts + 3600) == []


def test_an_untouched_log_verifies_across_pages(audit: AuditLog) -> None:
    assert audit.verify().to_dict() == {"ok": True, "entries": 0, "problems": []}
    record(audit, 7)
    report = audit.verify(page=3)
    assert report.ok and report.entries == 7


def test_an_edited_column_is_found(audit: AuditLog) -> None:
    record(audit, 4)
    change(audit, update(t.audit_log).where(t.audit_log.c.seq == 2).values(actor="mallory"))
    assert audit.verify().problems == ["entry 2 was changed after it was written"]


def test_an_edited_detail_is_found(audit: AuditLog) -> None:
    record(audit, 3)
    change(
        audit,
        update(t.audit_log).where(t.audit_log.c.seq == 3).values(details={"n": 2, "user": "eve"}),
    )
    assert audit.verify().problems == ["entry 3 was changed after it was written"]


def test_an_entry_edited_with_its_own_hash_recomputed_breaks_the_next_link(
    audit: AuditLog,
) -> None:
    record(audit, 3)
    with audit.meta.read() as conn:
        row = dict(conn.execute(select(t.audit_log).where(t.audit_log.c.seq == 2)).one()._mapping)
    row["outcome"] = "denied"
    forged = entry_hash(row["prev_hash"], row)
    change(
        audit,
        update(t.audit_log).where(t.audit_log.c.seq == 2).values(outcome="denied", hash=forged),
    )
    assert audit.verify().problems == ["entry 3 does not follow the entry before it"]


def test_a_deleted_middle_entry_is_found(audit: AuditLog) -> None:
    record(audit, 5)
    change(audit, delete(t.audit_log).where(t.audit_log.c.seq == 3))
    report = audit.verify()
    assert not report.ok and report.entries == 4
    assert report.problems == [
        "entry 3 is missing (deleted)",
        "entry 4 does not follow the entry before it",
    ]


def test_deleted_newest_entries_are_found(audit: AuditLog) -> None:
    record(audit, 5)
    change(audit, delete(t.audit_log).where(t.audit_log.c.seq >= 4))
    assert audit.verify().problems == [
        "entries 4..5 are missing (deleted): the head of the chain says entry 5, the log ends "
        "at entry 3"
    ]


def test_a_deleted_head_is_found(audit: AuditLog) -> None:
    record(audit, 2)
    change(audit, delete(t.audit_head))
    assert audit.verify().problems == ["the chain's head record is missing (deleted)"]


def test_entries_added_past_the_head_are_found(audit: AuditLog) -> None:
    record(audit, 2)
    newest = audit.list(limit=1)[0].to_dict()
    forged = {**newest, "seq": 3, "actor": "mallory"}
    forged["prev_hash"] = newest["hash"]
    forged["hash"] = entry_hash(forged["prev_hash"], forged)
    change(audit, insert(t.audit_log).values(**forged))
    assert audit.verify().problems == [
        "entry 3 was added behind the server's back: the head of the chain says entry 2"
    ]


def test_a_replaced_newest_entry_is_found(audit: AuditLog) -> None:
    record(audit, 2)
    newest = audit.list(limit=1)[0].to_dict()
    replaced = {**newest, "outcome": "denied"}
    replaced["hash"] = entry_hash(replaced["prev_hash"], replaced)
    change(audit, update(t.audit_log).where(t.audit_log.c.seq == 2).values(**replaced))
    assert audit.verify().problems == ["entry 2 is not the entry the head of the chain recorded"]


def test_later_appends_do_not_hide_a_deletion(audit: AuditLog) -> None:
    record(audit, 3)
    change(audit, delete(t.audit_log).where(t.audit_log.c.seq == 3))
    record(audit, 2)  # the server goes on, chaining from the head (the deleted entry)
    problems = audit.verify().problems
    assert problems == [
        "entry 3 is missing (deleted)",
        "entry 4 does not follow the entry before it",
    ]


def test_concurrent_appends_keep_one_chain(audit: AuditLog) -> None:
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            record(audit, 10)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = audit.verify()
    assert report.ok and report.entries == 40
