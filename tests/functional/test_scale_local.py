"""LocalLambda at scale: a long backlog is handled once per message, whatever its length.

Functional tier: the session's moto server on 127.0.0.1 (with relaystate's moto speed-ups).
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from typing import Any

from relaystate.local import LocalLambda
from tests.queues import backlog

BACKLOG = 1_500


def test_a_long_backlog_is_deleted_inside_a_short_visibility_timeout_while_invocations_run(
    sqs_endpoint: str,
) -> None:
    # 1,500 messages take several seconds to work through, four invocations at a time; each
    # handled message must be deleted within the queue's 2-s visibility timeout, or SQS
    # delivers it again. A poll loop busy receiving the backlog must not hold the deletes.
    handled: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> None:
        with lock:
            handled.update(record["body"] for record in event["Records"])
        time.sleep(0.002)

    with LocalLambda(timeout_s=1.0, concurrency=4, endpoint_url=sqs_endpoint) as lam:
        lam.deploy("backlog-worker", handler)
        url = lam.sqs.create_queue(
            QueueName=f"backlog-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "2"}
        )["QueueUrl"]
        for start in range(0, BACKLOG, 10):
            entries: list[Any] = [{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)]
            lam.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        arn = lam.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        lam.backend.mappings.create(
            "backlog-worker", arn["Attributes"]["QueueArn"], batch_size=1, max_concurrency=None
        )

        lam.run_until_idle(timeout_s=300)

        assert {} == {body: n for body, n in handled.items() if n != 1}
        assert BACKLOG == len(handled)
        assert 0 == backlog(lam.sqs, url)
        assert lam.poller_calls["DeleteMessageBatch"] <= BACKLOG // 10 + 10
