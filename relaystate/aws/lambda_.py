"""The mapping port over boto3's Lambda client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ResourceNotFoundError
from ..ports import MappingInfo
from .errors import map_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

__all__ = ["LambdaMappings"]


def _info(response: Any) -> MappingInfo:
    return MappingInfo(
        id=response["UUID"],
        state=response.get("State", ""),
        queue_arn=response.get("EventSourceArn", ""),
        function_name=response.get("FunctionArn", ""),
    )


class LambdaMappings:
    """:class:`~relaystate.ports.MappingPort` on a boto3 Lambda client.

    Example:
        >>> import boto3
        >>> mappings = LambdaMappings(boto3.client("lambda"))  # doctest: +SKIP
    """

    def __init__(self, client: LambdaClient) -> None:
        self.client = client

    def function_timeout_s(self, function_name: str) -> int:
        with map_aws_errors("lambda", "GetFunctionConfiguration"):
            response = self.client.get_function_configuration(FunctionName=function_name)
        return int(response.get("Timeout", 3))

    def create(
        self,
        function_name: str,
        queue_arn: str,
        *,
        batch_size: int,
        max_concurrency: int | None,
        enabled: bool = True,
    ) -> MappingInfo:
        extra: dict[str, Any] = {}
        if max_concurrency is not None:
            extra["ScalingConfig"] = {"MaximumConcurrency": max_concurrency}
        with map_aws_errors("lambda", "CreateEventSourceMapping"):
            response = self.client.create_event_source_mapping(
                EventSourceArn=queue_arn,
                FunctionName=function_name,
                Enabled=enabled,
                BatchSize=batch_size,
                FunctionResponseTypes=["ReportBatchItemFailures"],
                **extra,
            )
        return _info(response)

    def set_enabled(self, mapping_id: str, enabled: bool) -> MappingInfo:
        with map_aws_errors("lambda", "UpdateEventSourceMapping"):
            response = self.client.update_event_source_mapping(UUID=mapping_id, Enabled=enabled)
        return _info(response)

    def get(self, mapping_id: str) -> MappingInfo | None:
        try:
            with map_aws_errors("lambda", "GetEventSourceMapping"):
                response = self.client.get_event_source_mapping(UUID=mapping_id)
        except ResourceNotFoundError:
            return None
        return _info(response)

    def delete(self, mapping_id: str) -> None:
        try:
            with map_aws_errors("lambda", "DeleteEventSourceMapping"):
                self.client.delete_event_source_mapping(UUID=mapping_id)
        except ResourceNotFoundError:
            pass

    def list_for_queue(self, queue_arn: str) -> list[MappingInfo]:
        found: list[MappingInfo] = []
        with map_aws_errors("lambda", "ListEventSourceMappings"):
            pages = self.client.get_paginator("list_event_source_mappings").paginate(
                EventSourceArn=queue_arn
            )
            for page in pages:
                found.extend(_info(item) for item in page.get("EventSourceMappings", []))
        return found

    def allow_recursion(self, function_name: str) -> None:
        with map_aws_errors("lambda", "PutFunctionRecursionConfig"):
            self.client.put_function_recursion_config(
                FunctionName=function_name, RecursiveLoop="Allow"
            )
