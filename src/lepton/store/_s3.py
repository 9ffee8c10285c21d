"""The S3 artifact store (AWS S3 or any S3-compatible server, such as SeaweedFS or MinIO).

Credentials and endpoint come from the usual AWS settings (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, profiles) or ``LEPTON_S3_ENDPOINT_URL``. An S3
upload is atomic by nature: the object appears only when the upload completes.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, BinaryIO

from lepton._optional import require
from lepton.errors import InvalidParameterError, StoreError
from lepton.store._artifacts import ArtifactStore, ObjectInfo, check_key

_SHA_META = "sha256"


class _HashingReader:
    """Wraps a file so the sha256 is computed while boto3 streams it up."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk


class S3ArtifactStore(ArtifactStore):
    def __init__(self, url: str, client: Any = None) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise InvalidParameterError(
                f"An S3 URL needs a bucket: s3://BUCKET/PREFIX, got {url!r}."
            )
        self.url = url
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if client is None:
            boto3 = require("boto3", purpose="use an S3 artifact store")
            from botocore.config import Config

            endpoint = os.environ.get("LEPTON_S3_ENDPOINT_URL") or os.environ.get(
                "AWS_ENDPOINT_URL"
            )
            client = boto3.client(
                "s3",
                endpoint_url=endpoint,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
            )
        self.client = client
        self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except BotoCoreError as exc:  # unreachable endpoint, missing credentials...
            raise StoreError(
                f"Cannot use bucket {self.bucket!r} at {self.url}: {exc}. Check the endpoint "
                "(AWS_ENDPOINT_URL or LEPTON_S3_ENDPOINT_URL) and the credentials "
                "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)."
            ) from exc
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket", "NotFound"):
                self.client.create_bucket(Bucket=self.bucket)
            else:
                raise StoreError(
                    f"Cannot use bucket {self.bucket!r} at {self.url}: {exc}. Check the "
                    "credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and endpoint."
                ) from exc

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_file(self, key: str, path: str | os.PathLike[str]) -> ObjectInfo:
        with open(path, "rb") as src:
            digest = hashlib.sha256()
            while chunk := src.read(1 << 20):
                digest.update(chunk)
            sha = digest.hexdigest()
            size = src.tell()
            src.seek(0)
            self.client.upload_fileobj(
                src, self.bucket, self._key(key), ExtraArgs={"Metadata": {_SHA_META: sha}}
            )
        return ObjectInfo(key, size, sha)

    def open(self, key: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise self._not_found(key) from None
            raise StoreError(f"Could not read {key!r} from {self.url}: {exc}") from exc
        body: BinaryIO = response["Body"]
        return body

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError:
            return False

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        if ".." in prefix.split("/"):
            raise InvalidParameterError(f"Invalid prefix {prefix!r}: '..' is not allowed.")
        root = f"{self.prefix}/" if self.prefix else ""
        full, strip = root + prefix, len(root)
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=full
        ):
            for item in page.get("Contents", []):
                head = self.client.head_object(Bucket=self.bucket, Key=item["Key"])
                sha = head.get("Metadata", {}).get(_SHA_META, "")
                found.append(ObjectInfo(item["Key"][strip:], int(item["Size"]), sha))
        return sorted(found, key=lambda o: o.key)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
