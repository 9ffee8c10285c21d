"""Encryption at rest: the segmented AES-256-GCM format, master keys, the encrypted artifact store
(over a folder and over a real SeaweedFS S3 server) and master-key rotation."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lepton.errors import AlreadyExistsError, ConfigError, IntegrityError
from lepton.security._crypto import (
    EncryptedArtifactStore,
    MasterKey,
    create_master_key_file,
    load_master_key,
    rotate_master_key,
)
from lepton.security._secrets import SecretStore
from lepton.security._segments import (
    HEADER_SIZE,
    TAG,
    DecryptingReader,
    encrypt_stream,
    encrypted_size,
    plain_size,
)
from lepton.store import ArtifactStore, LocalArtifactStore, MetadataStore, open_artifact_store
from lepton.store._schema import object_keys

MARKER = b"PLAINTEXT-MARKER-7f3a"
SEG = 64  # small segments: many segments from a few hundred bytes


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _encrypt(data: bytes, key: bytes, object_key: str = "a/b", seg: int = SEG) -> bytes:
    out = io.BytesIO()
    digest, size = encrypt_stream(io.BytesIO(data), out, key, object_key, seg)
    assert (digest, size) == (_sha(data), len(data))
    return out.getvalue()


def _decrypt(blob: bytes, key: bytes, object_key: str = "a/b") -> bytes:
    raw = io.BytesIO(blob)
    header = raw.read(HEADER_SIZE)
    with io.BufferedReader(DecryptingReader(raw, header, key, object_key)) as reader:
        return reader.read()


def _segments(blob: bytes, seg: int = SEG) -> tuple[bytes, list[bytes]]:
    body = blob[HEADER_SIZE:]
    step = seg + TAG
    return blob[:HEADER_SIZE], [body[i : i + step] for i in range(0, len(body), step)]


# the segment format --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "size", [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG, 10 * SEG + 7], ids=lambda s: f"{s}B"
)
def test_round_trip_and_sizes(size: int) -> None:
    key = os.urandom(32)
    data = os.urandom(size)
    blob = _encrypt(data, key)
    assert len(blob) == encrypted_size(size, SEG)
    assert plain_size(len(blob), SEG) == size
    assert _decrypt(blob, key) == data


def test_round_trip_with_default_segments_of_one_mib() -> None:
    key = os.urandom(32)
    data = os.urandom((1 << 20) * 2 + 12345)  # three segments, the last one short
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, key, "big")
    assert len(out.getvalue()) == encrypted_size(len(data))
    assert _decrypt(out.getvalue(), key, "big") == data


def test_ciphertext_hides_the_plaintext_and_differs_each_time() -> None:
    key = os.urandom(32)
    data = MARKER * 100
    first, second = _encrypt(data, key), _encrypt(data, key)
    assert MARKER not in first
    assert first != second  # a fresh random nonce prefix per write


def _tampered_cases(blob: bytes) -> dict[str, bytes]:
    header, parts = _segments(blob)
    assert len(parts) >= 4
    flipped = bytearray(blob)
    flipped[HEADER_SIZE + SEG + TAG + 5] ^= 0x01  # one bit of segment 1
    in_header = bytearray(blob)
    in_header[12] ^= 0x80  # the segment size field
    in_tag = bytearray(blob)
    in_tag[-1] ^= 0x01
    return {
        "truncated at a segment boundary": header + b"".join(parts[:-1]),
        "truncated inside a segment": blob[:-5],
        "only the header left": header,
        "header cut short": blob[: HEADER_SIZE - 3],
        "segments reordered": header + parts[1] + parts[0] + b"".join(parts[2:]),
        "a segment dropped in the middle": header + parts[0] + b"".join(parts[2:]),
        "a segment appended": blob + parts[-1],
        "last segment duplicated before itself": header
        + b"".join(parts[:-1])
        + parts[-2]
        + parts[-1],
        "bit flip in a segment": bytes(flipped),
        "bit flip in the header": bytes(in_header),
        "bit flip in a tag": bytes(in_tag),
    }


@pytest.mark.parametrize(
    "case", list(_tampered_cases(_encrypt(os.urandom(5 * SEG + 9), os.urandom(32))))
)
def test_tampering_fails_with_integrity_error(case: str) -> None:
    key = os.urandom(32)
    blob = _encrypt(MARKER * 20, key)  # 420 bytes: 7 segments
    tampered = _tampered_cases(blob)[case]
    with pytest.raises(
        IntegrityError,
        match=r"Object 'a/b' (failed authentication|is truncated|is not a complete|has an encryption header)",
    ):
        _decrypt(tampered, key)


def test_segments_are_bound_to_their_object_key_and_data_key() -> None:
    key = os.urandom(32)
    blob = _encrypt(b"payload" * 30, key, "runs/1/model.bin")
    with pytest.raises(IntegrityError, match="copied from another key"):
        _decrypt(blob, key, "runs/2/model.bin")
    with pytest.raises(IntegrityError, match="failed authentication at segment 0"):
        _decrypt(blob, os.urandom(32), "runs/1/model.bin")


# master keys ---------------------------------------------------------------------------------------
def test_master_key_text_round_trip_and_fingerprint() -> None:
    key = MasterKey.generate()
    again = MasterKey.from_text(key.to_text() + "\n")
    assert again.id == key.id and len(key.id) == 16
    assert MasterKey.from_text(key.to_text() + "=").id == key.id  # padding is optional
    assert key.to_text() not in repr(key) and key.id in repr(key)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not base64!", "is not base64url text"),
        ("c2hvcnQ", "is 5 bytes"),
        ("", "is not base64url text"),
        ("A" * 44, "is 33 bytes"),
    ],
)
def test_malformed_master_key_says_what_is_expected(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=rf"{problem}.*32 random bytes written as base64url"):
        MasterKey.from_text(text, "LEPTON_MASTER_KEY")


def test_load_master_key_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert load_master_key(home) is None  # encryption off

    in_home = create_master_key_file(home / "master.key")
    assert load_master_key(home).id == in_home.id  # type: ignore[union-attr]

    in_file = create_master_key_file(tmp_path / "elsewhere.key")
    monkeypatch.setenv("LEPTON_MASTER_KEY_FILE", str(tmp_path / "elsewhere.key"))
    assert load_master_key(home).id == in_file.id  # type: ignore[union-attr]

    in_env = MasterKey.generate()
    monkeypatch.setenv("LEPTON_MASTER_KEY", in_env.to_text())
    assert load_master_key(home).id == in_env.id  # type: ignore[union-attr]

    monkeypatch.setenv("LEPTON_MASTER_KEY", "tooshort")
    with pytest.raises(ConfigError, match="from LEPTON_MASTER_KEY is 6 bytes"):
        load_master_key(home)


def test_missing_key_file_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEPTON_MASTER_KEY_FILE", str(tmp_path / "nope.key"))
    with pytest.raises(ConfigError, match=r"LEPTON_MASTER_KEY_FILE=.*nope.key cannot be read"):
        load_master_key(tmp_path)


def test_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    key = create_master_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert MasterKey.from_text(path.read_text()).id == key.id
    with pytest.raises(AlreadyExistsError, match="never overwritten"):
        create_master_key_file(path)
    assert MasterKey.from_text(path.read_text()).id == key.id
    assert sorted(p.name for p in path.parent.iterdir()) == ["master.key"]  # no temp left


# the encrypted store -------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def meta(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    """Where the wrapped data keys live: SQLite, or a fresh database on a real PostgreSQL."""
    url = (
        request.getfixturevalue("postgres_db_url")
        if request.param == "postgres"
        else f"sqlite:///{tmp_path / 'lepton.db'}"
    )
    store = MetadataStore(url)
    yield store
    store.close()


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def inner(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return open_artifact_store(str(tmp_path / "artifacts"))
    return open_artifact_store(request.getfixturevalue("s3_url"))


def _raw(inner: ArtifactStore, key: str) -> bytes:
    """The bytes as stored: the file on disk, or the S3 object."""
    if isinstance(inner, LocalArtifactStore):
        return (inner.root / key).read_bytes()
    return inner.get(key)


def test_store_round_trip_hides_plaintext(
    inner: ArtifactStore, meta: MetadataStore, tmp_path: Path
) -> None:
    store = EncryptedArtifactStore(inner, meta, MasterKey.generate(), segment_size=1024)
    data = MARKER + os.urandom(5000) + MARKER
    source = tmp_path / "model.bin"
    source.write_bytes(data)

    info = store.put_file("runs/r1/model.bin", source)
    assert (info.key, info.size, info.sha256) == ("runs/r1/model.bin", len(data), _sha(data))
    small = store.put("runs/r1/notes.txt", MARKER)
    empty = store.put("runs/r1/empty", b"")
    assert (small.size, small.sha256, empty.size) == (len(MARKER), _sha(MARKER), 0)

    for key in ("runs/r1/model.bin", "runs/r1/notes.txt", "runs/r1/empty"):
        assert MARKER not in _raw(inner, key)
    assert store.get("runs/r1/model.bin") == data
    assert store.get("runs/r1/empty") == b""
    with store.open("runs/r1/model.bin") as stream:
        assert stream.read(len(MARKER)) == MARKER  # streams, in small reads too
        assert stream.read() == data[len(MARKER) :]
    assert store.sha256("runs/r1/model.bin") == _sha(data)
    assert store.download("runs/r1/model.bin", tmp_path / "out" / "m.bin").read_bytes() == data
    assert [(o.key, o.size, o.sha256) for o in store.list("runs/r1/")] == [
        ("runs/r1/empty", 0, _sha(b"")),
        ("runs/r1/model.bin", len(data), _sha(data)),
        ("runs/r1/notes.txt", len(MARKER), _sha(MARKER)),
    ]
    assert store.exists("runs/r1/notes.txt")

    store.delete("runs/r1/notes.txt")
    assert not store.exists("runs/r1/notes.txt")
    assert meta.rows(object_keys, key="runs/r1/notes.txt") == []


def test_overwrite_keeps_the_data_key_and_reads_the_new_content(
    inner: ArtifactStore, meta: MetadataStore
) -> None:
    store = EncryptedArtifactStore(inner, meta, MasterKey.generate())
    store.put("ckpt/last.pt", b"epoch 1")
    wrapped = meta.rows(object_keys, key="ckpt/last.pt")[0]["wrapped_key"]
    store.put("ckpt/last.pt", b"epoch 2, longer")
    assert meta.rows(object_keys, key="ckpt/last.pt")[0]["wrapped_key"] == wrapped
    assert store.get("ckpt/last.pt") == b"epoch 2, longer"


def test_wrong_master_key_names_the_expected_fingerprint(
    inner: ArtifactStore, meta: MetadataStore
) -> None:
    right, wrong = MasterKey.generate(), MasterKey.generate()
    EncryptedArtifactStore(inner, meta, right).put("data/x.csv", MARKER)
    other = EncryptedArtifactStore(inner, meta, wrong)
    message = rf"Object 'data/x.csv' is encrypted under master key {right.id}, but the configured master key is {wrong.id}"
    with pytest.raises(ConfigError, match=message):
        other.open("data/x.csv")
    with pytest.raises(ConfigError, match=right.id):
        other.put("data/x.csv", b"overwrite")  # refused too: the old data key stays intact
    assert EncryptedArtifactStore(inner, meta, right).get("data/x.csv") == MARKER


def test_tampered_payload_and_wrapped_key_fail(inner: ArtifactStore, meta: MetadataStore) -> None:
    key = MasterKey.generate()
    store = EncryptedArtifactStore(inner, meta, key, segment_size=256)
    store.put("m/bundle", os.urandom(2000))
    raw = bytearray(_raw(inner, "m/bundle"))
    raw[HEADER_SIZE + 300] ^= 0x04
    inner.put("m/bundle", bytes(raw))
    with pytest.raises(IntegrityError, match="failed authentication at segment 1"):
        store.get("m/bundle")

    store.put("m/other", b"x")
    with meta.write() as conn:
        row = meta.rows(object_keys, key="m/other")[0]
        broken = bytearray(row["wrapped_key"])
        broken[-1] ^= 0x01
        conn.execute(
            object_keys.update()
            .where(object_keys.c.key == "m/other")
            .values(wrapped_key=bytes(broken))
        )
    with pytest.raises(
        IntegrityError,
        match=rf"The data key of object .m/other. does not authenticate under master key {key.id}",
    ):
        store.get("m/other")


def test_objects_from_before_encryption_are_read_as_they_are(
    inner: ArtifactStore, meta: MetadataStore
) -> None:
    inner.put("old/readme.txt", MARKER)
    store = EncryptedArtifactStore(inner, meta, MasterKey.generate())
    assert store.get("old/readme.txt") == MARKER
    assert [(o.key, o.sha256) for o in store.list("old/")] == [("old/readme.txt", _sha(MARKER))]
    store.put("old/readme.txt", b"rewritten")  # written again: now encrypted
    assert (
        MARKER not in _raw(inner, "old/readme.txt") and store.get("old/readme.txt") == b"rewritten"
    )


def test_encrypted_object_without_its_data_key_is_never_returned_as_is(
    inner: ArtifactStore, meta: MetadataStore
) -> None:
    store = EncryptedArtifactStore(inner, meta, MasterKey.generate())
    store.put("lost/key.bin", MARKER)
    meta.delete_rows(object_keys, key="lost/key.bin")
    with pytest.raises(IntegrityError, match="encrypted but its data key is missing"):
        store.get("lost/key.bin")


def test_missing_object_is_not_found(inner: ArtifactStore, meta: MetadataStore) -> None:
    from lepton.errors import ArtifactNotFoundError

    store = EncryptedArtifactStore(inner, meta, MasterKey.generate())
    store.put("runs/r/a.txt", b"a")
    with pytest.raises(
        ArtifactNotFoundError, match=r"No artifact named 'runs/r/b.txt'.*runs/r/a.txt"
    ):
        store.open("runs/r/b.txt")


# rotation ------------------------------------------------------------------------------------------
def test_rotation_rewraps_keys_and_secrets_without_touching_payloads(
    inner: ArtifactStore, meta: MetadataStore
) -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    store = EncryptedArtifactStore(inner, meta, old)
    for i in range(3):
        store.put(f"runs/r/{i}.bin", MARKER * (i + 1))
    SecretStore(meta, old).set("credit", "DB_PASSWORD", "hunter2")
    payload = _raw(inner, "runs/r/1.bin")

    assert rotate_master_key(meta, old, new) == 4
    assert _raw(inner, "runs/r/1.bin") == payload
    assert {r["master_key_id"] for r in meta.rows(object_keys)} == {new.id}

    rotated = EncryptedArtifactStore(inner, meta, new)
    assert [rotated.get(f"runs/r/{i}.bin") for i in range(3)] == [
        MARKER * (i + 1) for i in range(3)
    ]
    assert SecretStore(meta, new).values("credit", ["DB_PASSWORD"]) == {"DB_PASSWORD": "hunter2"}
    with pytest.raises(
        ConfigError,
        match=rf"encrypted under master key {new.id}.*configured master key is {old.id}",
    ):
        store.get("runs/r/0.bin")
    with pytest.raises(
        ConfigError,
        match=rf"Secret 'DB_PASSWORD' of project 'credit' is encrypted under master key {new.id}",
    ):
        SecretStore(meta, old).values("credit", ["DB_PASSWORD"])

    assert rotate_master_key(meta, old, new) == 0  # run again (e.g. after a crash): nothing left


def test_rotation_refuses_rows_of_an_unknown_key_and_changes_nothing(
    inner: ArtifactStore, meta: MetadataStore
) -> None:
    first, stranger, new = MasterKey.generate(), MasterKey.generate(), MasterKey.generate()
    EncryptedArtifactStore(inner, meta, first).put("a/1", b"1")
    EncryptedArtifactStore(inner, meta, stranger).put("a/2", b"2")
    before = meta.rows(object_keys, order_by="key")
    with pytest.raises(
        ConfigError, match=rf"Object 'a/2' is encrypted under master key {stranger.id}"
    ):
        rotate_master_key(meta, first, new)
    assert meta.rows(object_keys, order_by="key") == before  # one transaction: rolled back
    with pytest.raises(ConfigError, match="is the current one"):
        rotate_master_key(meta, first, first)
