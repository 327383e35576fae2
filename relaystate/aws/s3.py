"""The blob port over boto3's S3 client: where offloaded data and cursors are kept."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..errors import ResourceNotFoundError
from ..ports import BlobInfo
from .config import make_client
from .errors import map_aws_errors

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config
    from mypy_boto3_s3 import S3Client

__all__ = ["S3Blobs"]

#: ``DeleteObjects`` takes at most this many keys a call.
_MAX_DELETE = 1000


class S3Blobs:
    """:class:`~relaystate.ports.BlobPort` on one S3 bucket.

    The client is made on first use (a job whose data stays small needs it only for its
    teardown's listing), from
    ``session`` with ``config`` and ``client_kwargs``, unless one is given.

    Args:
        bucket: the bucket's name.
        client: a ready boto3 ``s3`` client, used as it is.
        session, config, client_kwargs: what to make the client from (default: a new default
            session, :func:`~relaystate.aws.client_config`).

    Example:
        >>> blobs = S3Blobs("my-bucket", region_name="eu-west-1")  # doctest: +SKIP
        >>> blobs.put("relaystate/j1/ab12", b"{}")  # doctest: +SKIP
    """

    def __init__(
        self,
        bucket: str,
        *,
        client: S3Client | None = None,
        session: boto3.Session | None = None,
        config: Config | None = None,
        **client_kwargs: Any,
    ) -> None:
        self.bucket = bucket
        self._client = client
        self._session = session
        self._config = config
        self._client_kwargs = client_kwargs
        self._lock = threading.Lock()

    @property
    def client(self) -> S3Client:
        """The S3 client, made on first use."""
        with self._lock:
            if self._client is None:
                self._client = make_client("s3", self._session, self._config, self._client_kwargs)
            return self._client

    def put(self, key: str, body: bytes) -> None:
        with map_aws_errors("s3", "PutObject"):
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType="application/json"
            )

    def get(self, key: str) -> bytes | None:
        try:
            with map_aws_errors("s3", "GetObject"):
                response = self.client.get_object(Bucket=self.bucket, Key=key)
                body: bytes = response["Body"].read()
        except ResourceNotFoundError as exc:
            if exc.code == "NoSuchBucket":
                raise  # the bucket itself: a setup error, not a missing object
            return None
        return body

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        token: str | None = None
        while True:
            extra: Any = {"ContinuationToken": token} if token else {}
            with map_aws_errors("s3", "ListObjectsV2"):
                page = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, **extra)
            for found in page.get("Contents", []):
                yield BlobInfo(
                    key=found["Key"],
                    size=int(found.get("Size", 0)),
                    modified_ms=int(found["LastModified"].timestamp() * 1000),
                )
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def delete_prefix(self, prefix: str) -> int:
        keys = [found.key for found in self.list(prefix)]
        for start in range(0, len(keys), _MAX_DELETE):
            chunk: Any = [{"Key": key} for key in keys[start : start + _MAX_DELETE]]
            with map_aws_errors("s3", "DeleteObjects"):
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True}
                )
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                # Reported per key in a 200 response: raised as the one table maps the code.
                with map_aws_errors("s3", "DeleteObjects"):
                    raise ClientError(
                        {
                            "Error": {
                                "Code": first.get("Code", "Unknown"),
                                "Message": f"{len(errors)} object(s) not deleted, e.g. "
                                f"{first.get('Key')}: {first.get('Message', '')}",
                            }
                        },
                        "DeleteObjects",
                    )
        return len(keys)

    def __repr__(self) -> str:
        return f"<S3Blobs s3://{self.bucket}>"
