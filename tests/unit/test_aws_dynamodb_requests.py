"""What DynamoDBLedger asks DynamoDB, request by request (``botocore.stub.Stubber``, no I/O)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.stub import Stubber

from relaystate.aws import DynamoDBLedger
from relaystate.aws.dynamodb_items import n, s
from relaystate.ledger import pack_outbox

# Should a stub ever be bypassed, the call fails on this machine instead of reaching AWS.
NOWHERE = "http://127.0.0.1:9"


def _projected(params: dict[str, Any]) -> set[str]:
    """The attribute names a request's ProjectionExpression names, placeholders resolved."""
    names = params.get("ExpressionAttributeNames", {})
    asked = (part.strip() for part in params["ProjectionExpression"].split(","))
    return {names.get(part, part) for part in asked}


def test_status_asks_only_for_what_it_shows_not_a_shards_packet_or_result() -> None:
    client: Any = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=NOWHERE)
    stubber = Stubber(client)
    job = {"pk": s("job#j1"), "sk": s("#job"), "shards": n(1), "state": s("running")}
    shard = {
        "pk": s("job#j1"),
        "sk": s("shard#000000"),
        "shard_no": n(0),
        "hop": n(3),
        "status": s("done"),
    }
    signal = {"signal_name": s("approved"), "payload": {"B": pack_outbox("true")}}
    stubber.add_response("get_item", {"Item": job})
    stubber.add_response("query", {"Items": [shard, signal]})
    asked: list[dict[str, Any]] = []
    client.meta.events.register(
        "before-parameter-build.dynamodb.Query", lambda params, **_: asked.append(params)
    )

    with stubber:
        status = DynamoDBLedger("ledger", client=client).status("j1")
    stubber.assert_no_pending_responses()

    assert status is not None
    assert {"approved": True} == status.signals
    projected = _projected(asked[0])
    # The shard's kept packet, its result, a parked packet's body: never read by status.
    assert set() == projected & {"outbox", "result", "body"}
    shown = {"shard_no", "hop", "status", "stats", "cursor", "updated_ms", "error", "wake_ms"}
    shown |= {"waiting_for", "progress", "signal_name", "payload", "tl00", "tl99"}
    assert shown <= projected
