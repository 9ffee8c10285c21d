"""The artifact stores: a local folder and S3 (a real SeaweedFS server), held to one contract."""

from __future__ import annotations

import hashlib
import io
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.services import S3_ACCESS_KEY, S3_SECRET_KEY, S3Server, free_ports

from lepton.errors import ArtifactNotFoundError, InvalidParameterError, StoreError
from lepton.store import ArtifactStore, LocalArtifactStore, ObjectInfo, open_artifact_store

MB = 1 << 20


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    """An empty store: a folder, or a fresh bucket and prefix on the SeaweedFS server."""
    if request.param == "local":
        yield open_artifact_store(str(tmp_path / "artifacts"))
    else:
        yield open_artifact_store(request.getfixturevalue("s3_url"))


# put / get / open / exists ----------------------------------------------------------------------
def test_put_get_exists(store: ArtifactStore) -> None:
    data = b"hello lepton\n"
    info = store.put("runs/a/model.bin", data)
    assert info == ObjectInfo("runs/a/model.bin", len(data), _sha(data))
    assert store.get("runs/a/model.bin") == data
    assert store.exists("runs/a/model.bin")
    assert not store.exists("runs/a/other.bin")
    assert store.sha256("runs/a/model.bin") == _sha(data)


def test_put_stream_and_overwrite(store: ArtifactStore) -> None:
    store.put("k.txt", io.BytesIO(b"one"))
    info = store.put("k.txt", io.BytesIO(b"two-two"))
    assert info == ObjectInfo("k.txt", 7, _sha(b"two-two"))
    assert store.get("k.txt") == b"two-two"
    assert store.list() == [info]


def test_put_file_and_empty_object(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(b"\x00\x01" * 1000)
    assert store.put_file("m/weights.bin", source) == ObjectInfo(
        "m/weights.bin", 2000, _sha(b"\x00\x01" * 1000)
    )
    assert store.get("m/weights.bin") == source.read_bytes()
    assert store.put("m/empty", b"") == ObjectInfo("m/empty", 0, _sha(b""))
    assert store.get("m/empty") == b""


def test_put_file_of_a_missing_file_writes_nothing(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent.bin"):
        store.put_file("k.bin", tmp_path / "absent.bin")
    assert not store.exists("k.bin")
    assert store.list() == []
    if isinstance(store, LocalArtifactStore):
        assert list((store.root / ".tmp").iterdir()) == []


def test_large_object_streams_in_chunks(store: ArtifactStore, tmp_path: Path) -> None:
    data = random.Random(7).randbytes(9 * MB)  # above boto3's 8 MB multipart threshold
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    info = store.put_file("big/blob.bin", source)
    assert info == ObjectInfo("big/blob.bin", len(data), _sha(data))

    digest, sizes = hashlib.sha256(), []
    with store.open("big/blob.bin") as stream:
        while chunk := stream.read(MB):
            digest.update(chunk)
            sizes.append(len(chunk))
    assert digest.hexdigest() == _sha(data)
    assert sum(sizes) == len(data) and max(sizes) <= MB and len(sizes) >= 9

    dest = store.download("big/blob.bin", tmp_path / "deep" / "er" / "copy.bin")
    assert dest.read_bytes() == data
    assert os.listdir(dest.parent) == ["copy.bin"]  # no temp file left beside it
    assert store.sha256("big/blob.bin") == _sha(data)


# list / delete --------------------------------------------------------------------------------
def test_list_by_prefix(store: ArtifactStore) -> None:
    contents = {
        "runs/a/x.bin": b"x",
        "runs/a/sub/y.bin": b"yy",
        "runs/ab/z.bin": b"zzz",
        "models/m.bin": b"mmmm",
    }
    for key, data in contents.items():
        store.put(key, data)
    assert store.list() == [ObjectInfo(k, len(v), _sha(v)) for k, v in sorted(contents.items())]
    assert [o.key for o in store.list("runs/a/")] == ["runs/a/sub/y.bin", "runs/a/x.bin"]
    assert [o.key for o in store.list("runs/a")] == [
        "runs/a/sub/y.bin",
        "runs/a/x.bin",
        "runs/ab/z.bin",
    ]
    assert [o.key for o in store.list("models/")] == ["models/m.bin"]
    assert store.list("nothing/") == []


def test_delete(store: ArtifactStore) -> None:
    store.put("d/one.bin", b"1")
    store.put("d/two.bin", b"2")
    store.delete("d/one.bin")
    assert not store.exists("d/one.bin")
    assert [o.key for o in store.list()] == ["d/two.bin"]
    with pytest.raises(ArtifactNotFoundError, match="No artifact named 'd/one.bin'"):
        store.get("d/one.bin")
    store.delete("d/one.bin")  # deleting a missing key is not an error
    store.delete("never/there.bin")


# missing keys and bad keys --------------------------------------------------------------------
def test_missing_key_raises_and_names_its_neighbours(store: ArtifactStore, tmp_path: Path) -> None:
    store.put("runs/x/present.bin", b"1")
    expected = r"No artifact named 'runs/x/missing.bin'\. Existing artifacts: 'runs/x/present.bin'"
    with pytest.raises(ArtifactNotFoundError, match=expected):
        store.get("runs/x/missing.bin")
    with pytest.raises(ArtifactNotFoundError, match=expected):
        store.open("runs/x/missing.bin")
    with pytest.raises(ArtifactNotFoundError, match=expected):
        store.sha256("runs/x/missing.bin")
    with pytest.raises(ArtifactNotFoundError, match=expected):
        store.download("runs/x/missing.bin", tmp_path / "out" / "file.bin")
    assert os.listdir(tmp_path / "out") == []  # neither the file nor a temp file
    with pytest.raises(ArtifactNotFoundError, match=r"No artifact named 'top.bin'.*\(store: "):
        store.get("top.bin")


def test_a_folder_is_not_an_object(store: ArtifactStore) -> None:
    store.put("dir/file.bin", b"x")
    assert not store.exists("dir")
    with pytest.raises(ArtifactNotFoundError, match="No artifact named 'dir'"):
        store.get("dir")


BAD_KEYS = [
    "../x",
    "/abs",
    "a\\b",
    "a/../b",
    "..",
    "trailing/",
    "nul\x00byte",
    "a//b",
    "a/./b",
    "./a",
    ".",
]


def _every_operation(store: ArtifactStore, tmp_path: Path) -> dict[str, Callable[[str], object]]:
    source = tmp_path / "source.bin"
    source.write_bytes(b"data")
    return {
        "put": lambda key: store.put(key, b"data"),
        "put_file": lambda key: store.put_file(key, source),
        "get": store.get,
        "open": store.open,
        "exists": store.exists,
        "delete": store.delete,
        "sha256": store.sha256,
        "download": lambda key: store.download(key, tmp_path / "dl" / "out.bin"),
    }


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_rejected_by_every_operation(
    store: ArtifactStore, tmp_path: Path, key: str
) -> None:
    for name, operation in _every_operation(store, tmp_path).items():
        with pytest.raises(InvalidParameterError, match=r"Invalid artifact key .*no '\.\.'"):
            operation(key)
        assert store.list() == [], name


@pytest.mark.parametrize("key", ["", None, 3])
def test_empty_or_non_string_keys_are_rejected(
    store: ArtifactStore, tmp_path: Path, key: object
) -> None:
    for operation in _every_operation(store, tmp_path).values():
        with pytest.raises(
            InvalidParameterError, match="An artifact key must be a non-empty string"
        ):
            operation(key)  # type: ignore[arg-type]


# open_artifact_store ----------------------------------------------------------------------------
def test_open_artifact_store_local_paths(tmp_path: Path) -> None:
    by_path = open_artifact_store(str(tmp_path / "a"))
    by_file_url = open_artifact_store(f"file://{tmp_path / 'b'}")
    relative = open_artifact_store("rel/store")
    assert isinstance(by_path, LocalArtifactStore) and by_path.root == (tmp_path / "a").resolve()
    assert isinstance(by_file_url, LocalArtifactStore)
    assert by_file_url.root == (tmp_path / "b").resolve()
    assert isinstance(relative, LocalArtifactStore)
    assert relative.root == (Path.cwd() / "rel" / "store").resolve()
    by_path.put("k", b"v")
    assert (tmp_path / "a" / "k").read_bytes() == b"v"
    assert by_path.url == str((tmp_path / "a").resolve())


@pytest.mark.parametrize("url", ["http://example.com/x", "gs://bucket/p", "ftp://host/p"])
def test_open_artifact_store_rejects_unknown_schemes(url: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"Unsupported artifact store URL '{url}'"):
        open_artifact_store(url)


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix"])
def test_s3_url_needs_a_bucket(url: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"An S3 URL needs a bucket.*got '{url}'"):
        open_artifact_store(url)


# S3 specifics ---------------------------------------------------------------------------------
@pytest.mark.s3
def test_s3_store_writes_under_its_bucket_and_prefix(s3_url: str, s3_server: S3Server) -> None:
    from lepton.store._s3 import S3ArtifactStore

    bucket = s3_url.removeprefix("s3://").split("/")[0]
    store = open_artifact_store(s3_url + "/deeper/")
    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.prefix) == (bucket, "prefix/deeper")
    store.put("runs/1/a.txt", b"abc")
    client = s3_server.client()
    head = client.head_object(Bucket=bucket, Key="prefix/deeper/runs/1/a.txt")
    assert head["ContentLength"] == 3 and head["Metadata"] == {"sha256": _sha(b"abc")}

    at_root = open_artifact_store(f"s3://{bucket}")
    assert [o.key for o in at_root.list()] == ["prefix/deeper/runs/1/a.txt"]
    assert at_root.get("prefix/deeper/runs/1/a.txt") == b"abc"


@pytest.mark.s3
def test_s3_list_rejects_dotdot_prefix(s3_url: str) -> None:
    store = open_artifact_store(s3_url)
    with pytest.raises(
        InvalidParameterError, match=r"Invalid prefix '\.\./x': '\.\.' is not allowed"
    ):
        store.list("../x")


@pytest.mark.s3
@pytest.mark.parametrize(
    ("variable", "value"),
    [("AWS_SECRET_ACCESS_KEY", "not-the-secret"), ("AWS_ACCESS_KEY_ID", "nobody")],
)
def test_s3_wrong_credentials_raise_store_error(
    s3_url: str, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    assert {S3_ACCESS_KEY, S3_SECRET_KEY}.isdisjoint({value})
    monkeypatch.setenv(variable, value)
    bucket = s3_url.removeprefix("s3://").split("/")[0]
    with pytest.raises(
        StoreError,
        match=rf"Cannot use bucket '{bucket}' at {s3_url}: .*403.*Check the credentials "
        r"\(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY\) and endpoint",
    ):
        open_artifact_store(s3_url)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """AWS settings from nowhere but this test: no ~/.aws files, no instance metadata."""
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # forget credentials read earlier
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEPTON_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_ports(1)[0]}")
    return monkeypatch


def test_s3_unreachable_endpoint_raises_store_error(aws_env: pytest.MonkeyPatch) -> None:
    aws_env.setenv("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
    with pytest.raises(StoreError, match="Cannot use bucket 'bkt'.*endpoint"):
        open_artifact_store("s3://bkt/prefix")


def test_s3_missing_credentials_raise_store_error(aws_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(StoreError, match="Cannot use bucket 'bkt'.*AWS_ACCESS_KEY_ID"):
        open_artifact_store("s3://bkt/prefix")
