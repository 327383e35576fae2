"""S3Blobs, the blob port over boto3, on moto's S3 (functional tier: the session's endpoint)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from relaystate.aws import S3Blobs, aws_backend
from relaystate.aws import s3 as s3_module
from relaystate.errors import ResourceNotFoundError
from relaystate.local.server import local_client

_buckets = itertools.count()


@pytest.fixture
def blobs(sqs_endpoint: str, boto_session: Any) -> S3Blobs:
    """A fresh bucket on the endpoint."""
    client = local_client("s3", sqs_endpoint, session=boto_session)
    bucket = f"relay-test-{next(_buckets)}"
    client.create_bucket(Bucket=bucket)
    return S3Blobs(bucket, client=client)


def test_an_object_put_is_got_back_whole(blobs: S3Blobs) -> None:
    body = "ü".encode() * 100_000

    blobs.put("relaystate/j1/ab", body)

    assert body == blobs.get("relaystate/j1/ab")


def test_a_missing_object_is_none(blobs: S3Blobs) -> None:
    assert blobs.get("relaystate/j1/none") is None


def test_a_missing_bucket_is_an_error(sqs_endpoint: str, boto_session: Any) -> None:
    client = local_client("s3", sqs_endpoint, session=boto_session)

    with pytest.raises(ResourceNotFoundError, match="NoSuchBucket"):
        S3Blobs("no-such-bucket-here", client=client).get("relaystate/j1/ab")


def test_a_listing_gives_the_prefixs_objects_in_key_order_page_by_page(
    blobs: S3Blobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("relaystate/j1/b", "relaystate/j1/a", "relaystate/j2/c"):
        blobs.put(key, b"1234")
    pages: list[Any] = []
    list_objects = blobs.client.list_objects_v2

    def paged(**kwargs: Any) -> Any:
        pages.append(kwargs)
        return list_objects(**kwargs, MaxKeys=1)

    monkeypatch.setattr(blobs.client, "list_objects_v2", paged)

    found = list(blobs.list("relaystate/j1/"))

    assert [("relaystate/j1/a", 4), ("relaystate/j1/b", 4)] == [(f.key, f.size) for f in found]
    assert 2 <= len(pages)
    assert all(f.modified_ms > 1_700_000_000_000 for f in found)


def test_deleting_a_prefix_deletes_its_objects_only_by_batches(
    blobs: S3Blobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_module, "_MAX_DELETE", 2)
    for i in range(5):
        blobs.put(f"relaystate/j1/{i}", b"x")
    blobs.put("relaystate/j10/keep", b"x")

    assert (5, 0) == (blobs.delete_prefix("relaystate/j1/"), blobs.delete_prefix("relaystate/j1/"))
    assert ["relaystate/j10/keep"] == [f.key for f in blobs.list("relaystate/")]


def test_the_aws_backend_makes_blobs_beside_its_sqs_without_a_call(sqs_endpoint: str) -> None:
    backend = aws_backend(region_name="us-east-1", endpoint_url=sqs_endpoint)
    assert backend.blobs is not None

    blobs = backend.blobs("some-bucket")

    assert (blobs, "some-bucket", None) == (
        backend.blobs("some-bucket"),
        blobs.bucket,
        blobs._client,
    )
    assert sqs_endpoint == blobs.client.meta.endpoint_url
