"""The Lambda API over HTTP, answered from a LocalLambda's registry, in front of moto's server.

A boto3 Lambda client pointed at a local endpoint (``AWS_ENDPOINT_URL``, ``--endpoint-url``)
would reach moto's own Lambda, which knows nothing of the functions a
:class:`~relaystate.local.LocalLambda` serves (its ``GetFunctionConfiguration`` says "Function
not found") and would need Docker to run one. :class:`LambdaApi` is a WSGI layer that answers
the Lambda requests itself, from the runtime's :class:`~relaystate.local.registry.MappingRegistry`,
and passes every other request (SQS, DynamoDB, S3...) to the application behind it. It answers
what relaystate's Lambda adapter (:mod:`relaystate.aws.lambda_`) calls, and a little more for
people looking with the AWS CLI::

    GET    /2015-03-31/functions                           ListFunctions
    GET    /2015-03-31/functions/{name}                    GetFunction
    GET    /2015-03-31/functions/{name}/configuration      GetFunctionConfiguration
    POST   /2015-03-31/event-source-mappings               CreateEventSourceMapping
    GET    /2015-03-31/event-source-mappings               ListEventSourceMappings
    GET    /2015-03-31/event-source-mappings/{uuid}        GetEventSourceMapping
    PUT    /2015-03-31/event-source-mappings/{uuid}        UpdateEventSourceMapping (Enabled only)
    DELETE /2015-03-31/event-source-mappings/{uuid}        DeleteEventSourceMapping
    PUT    /2024-08-31/functions/{name}/recursion-config   PutFunctionRecursionConfig
    GET    /2024-08-31/functions/{name}/recursion-config   GetFunctionRecursionConfig

A request is Lambda's when its SigV4 credential scope names the service ``lambda`` (what boto3
sends), or, unsigned, when its path starts with one of those API versions. Errors come back as
Lambda sends them (status, ``x-amzn-ErrorType``, ``{"message": ...}``), so that botocore raises
the ``ClientError`` AWS would cause. DynamoDB requests are passed on one at a time: moto checks
a conditional write's condition and then writes, and two concurrent ones to one item could
both succeed, which DynamoDB never allows and the progress ledger relies on.

Example:
    >>> api = LambdaApi(moto_app)  # doctest: +SKIP
    >>> api.registry = lam.mappings  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from werkzeug.wrappers import Request, Response

from ..errors import AwsError, RelayError
from .registry import LocalFunction, LocalMapping, MappingRegistry, function_name_of

__all__ = ["LambdaApi", "service_of"]

#: The service in a SigV4 ``Authorization`` header's credential scope.
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
#: The paths of the Lambda API, by version date (for requests that are not signed).
_LAMBDA_PATH = re.compile(r"/20\d\d-\d\d-\d\d/(functions|event-source-mappings)(/|$)")
#: HTTP status of each error code answered.
_STATUS = {
    "ResourceNotFoundException": 404,
    "ResourceConflictException": 409,
    "TooManyRequestsException": 429,
    "InvalidParameterValueException": 400,
    "ServiceException": 500,
}


def service_of(environ: WSGIEnvironment) -> str | None:
    """The AWS service a request is signed for (``sqs``, ``lambda``...), or ``None``.

    Example:
        >>> service_of({"HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=testing/"
        ...             "20260101/us-east-1/lambda/aws4_request, SignedHeaders=host"})
        'lambda'
    """
    found = _SCOPE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    return found.group(1) if found else None


class _Refused(Exception):
    """A request answered with an error: its Lambda error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


Handler = Callable[[Request, "re.Match[str]"], tuple[int, dict[str, Any]]]


class LambdaApi:
    """A WSGI application: the Lambda API from :attr:`registry`, the rest from ``app``.

    Args:
        app: the application that serves every other service (moto's server).
        registry: the functions and mappings to answer from; set later with
            :attr:`registry` (until then, Lambda requests are answered "no functions").

    Example:
        >>> api = LambdaApi(moto_app, lam.mappings)  # doctest: +SKIP
        >>> server = make_server("127.0.0.1", 4566, api)  # doctest: +SKIP
    """

    def __init__(self, app: WSGIApplication, registry: MappingRegistry | None = None) -> None:
        self.app = app
        self.registry = registry
        self._dynamodb = threading.Lock()
        mappings, functions = "/2015-03-31/event-source-mappings", "/2015-03-31/functions"
        routes: list[tuple[str, str, Handler]] = [
            ("GET", f"{functions}/?", self._list_functions),
            ("GET", f"{functions}/([^/]+)/?", self._get_function),
            ("GET", f"{functions}/([^/]+)/configuration/?", self._get_configuration),
            ("POST", f"{mappings}/?", self._create_mapping),
            ("GET", f"{mappings}/?", self._list_mappings),
            ("GET", f"{mappings}/([^/]+)", self._get_mapping),
            ("PUT", f"{mappings}/([^/]+)", self._update_mapping),
            ("DELETE", f"{mappings}/([^/]+)", self._delete_mapping),
            ("PUT", "/2024-08-31/functions/([^/]+)/recursion-config/?", self._put_recursion),
            ("GET", "/2024-08-31/functions/([^/]+)/recursion-config/?", self._get_recursion),
        ]
        self._routes = [(method, re.compile(path), handler) for method, path, handler in routes]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        service = service_of(environ)
        path = str(environ.get("PATH_INFO", ""))
        if service == "lambda" or (service is None and _LAMBDA_PATH.match(path)):
            response = self._answer(Request(environ))
            return response(environ, start_response)
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if service == "dynamodb" or target.startswith("DynamoDB_"):
            with self._dynamodb:
                return list(self.app(environ, start_response))  # all of it under the lock
        return self.app(environ, start_response)

    # -- routing --------------------------------------------------------------------------------

    def _answer(self, request: Request) -> Response:
        try:
            for method, pattern, handler in self._routes:
                found = pattern.fullmatch(request.path)
                if found and method == request.method:
                    status, body = handler(request, found)
                    return _json(status, body)
            raise _Refused(
                "InvalidParameterValueException",
                f"{request.method} {request.path} is not a Lambda operation this local "
                "endpoint answers; it answers the function lookups, event-source mappings and "
                "recursion settings that relaystate calls",
            )
        except _Refused as exc:
            return _error(exc.code, str(exc))
        except AwsError as exc:
            return _error(exc.code or "InvalidParameterValueException", _bare(exc))
        except RelayError as exc:
            return _error("InvalidParameterValueException", str(exc))
        except Exception as exc:  # the answer to a request, not a crash of the server
            return _error("ServiceException", f"{type(exc).__name__}: {exc}")

    @property
    def _functions(self) -> MappingRegistry:
        if self.registry is None:
            raise _Refused("ResourceNotFoundException", "this endpoint serves no functions (yet)")
        return self.registry

    def _function(self, name_or_arn: str) -> LocalFunction:
        name = function_name_of(unquote(name_or_arn))
        found = self._functions.function(name)
        if found is None:
            served = ", ".join(f.name for f in self._functions.functions()) or "none"
            raise _Refused(
                "ResourceNotFoundException",
                f"Function not found: {name} is not served by this local endpoint (serving: "
                f"{served}); start `relaystate serve MODULE:JobClass` with the job class "
                f"whose function_name is {name!r}",
            )
        return found

    def _mapping(self, mapping_id: str) -> LocalMapping:
        found = self._functions.mapping(unquote(mapping_id))
        if found is None:
            raise _Refused(
                "ResourceNotFoundException",
                f"The resource you requested does not exist: no event source mapping {mapping_id}",
            )
        return found

    # -- functions -------------------------------------------------------------------------------

    def _list_functions(self, request: Request, found: re.Match[str]) -> tuple[int, dict[str, Any]]:
        functions = self.registry.functions() if self.registry is not None else []
        return 200, {"Functions": [_configuration(f) for f in functions]}

    def _get_function(self, request: Request, found: re.Match[str]) -> tuple[int, dict[str, Any]]:
        return 200, {"Configuration": _configuration(self._function(found.group(1)))}

    def _get_configuration(
        self, request: Request, found: re.Match[str]
    ) -> tuple[int, dict[str, Any]]:
        return 200, _configuration(self._function(found.group(1)))

    def _put_recursion(self, request: Request, found: re.Match[str]) -> tuple[int, dict[str, Any]]:
        function = self._function(found.group(1))
        value: Any = _body(request).get("RecursiveLoop")
        self._functions.set_recursive_loop(function.name, value)  # it checks the value
        return 200, {"RecursiveLoop": value}

    def _get_recursion(self, request: Request, found: re.Match[str]) -> tuple[int, dict[str, Any]]:
        return 200, {"RecursiveLoop": self._function(found.group(1)).recursive_loop}

    # -- event-source mappings -------------------------------------------------------------------

    def _create_mapping(self, request: Request, found: re.Match[str]) -> tuple[int, dict[str, Any]]:
        body = _body(request)
        arn = body.get("EventSourceArn")
        if not isinstance(arn, str) or not arn:
            raise _Refused("InvalidParameterValueException", "EventSourceArn is required")
        function = self._function(str(body.get("FunctionName", "")))
        scaling = body.get("ScalingConfig") or {}
        info = self._functions.create(
            function.name,
            arn,
            batch_size=int(body.get("BatchSize", 10)),
            max_concurrency=scaling.get("MaximumConcurrency"),
            enabled=body.get("Enabled") is not False,
        )
        return 202, _mapping_json(self._mapping(info.id))

    def _list_mappings(self, request: Request, found: re.Match[str]) -> tuple[int, dict[str, Any]]:
        if self.registry is None:
            return 200, {"EventSourceMappings": []}
        arn = request.args.get("EventSourceArn")
        name = request.args.get("FunctionName")
        mappings = [
            m
            for m in self.registry.all()
            if (not arn or m.queue_arn == arn)
            and (not name or m.function_name == function_name_of(name))
        ]
        return 200, {"EventSourceMappings": [_mapping_json(m) for m in mappings]}

    def _get_mapping(self, request: Request, found: re.Match[str]) -> tuple[int, dict[str, Any]]:
        return 200, _mapping_json(self._mapping(found.group(1)))

    def _update_mapping(self, request: Request, found: re.Match[str]) -> tuple[int, dict[str, Any]]:
        mapping = self._mapping(found.group(1))
        asked = dict(_body(request))
        enabled = asked.pop("Enabled", None)
        current = {"BatchSize": mapping.batch_size, "FunctionName": mapping.function_name}
        changes = sorted(
            key
            for key, value in asked.items()
            if key not in current
            or (value != current[key] and function_name_of(str(value)) != current[key])
        )
        if changes:
            raise _Refused(
                "InvalidParameterValueException",
                f"this local endpoint changes only a mapping's Enabled ({', '.join(changes)} "
                "asked); delete the mapping and create it again",
            )
        if isinstance(enabled, bool):
            self._functions.set_enabled(mapping.id, enabled)
        return 202, _mapping_json(self._mapping(mapping.id))

    def _delete_mapping(self, request: Request, found: re.Match[str]) -> tuple[int, dict[str, Any]]:
        mapping = self._mapping(found.group(1))
        self._functions.delete(mapping.id)
        return 202, _mapping_json(self._functions.mapping(mapping.id) or mapping)


def _configuration(function: LocalFunction) -> dict[str, Any]:
    return {
        "FunctionName": function.name,
        "FunctionArn": function.arn,
        "Timeout": max(math.ceil(function.timeout_s), 1),
        "MemorySize": function.memory_mb,
        "Handler": getattr(function.handler, "__qualname__", "handler"),
        "Runtime": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "PackageType": "Zip",
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "Description": "served by relaystate's local Lambda runtime",
    }


def _mapping_json(mapping: LocalMapping) -> dict[str, Any]:
    found: dict[str, Any] = {
        "UUID": mapping.id,
        "State": mapping.state,
        "EventSourceArn": mapping.queue_arn,
        "FunctionArn": mapping.function_arn,
        "BatchSize": mapping.batch_size,
        "MaximumBatchingWindowInSeconds": 0,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "LastModified": time.time(),
        "StateTransitionReason": "USER_INITIATED",
    }
    if mapping.max_concurrency is not None:
        found["ScalingConfig"] = {"MaximumConcurrency": mapping.max_concurrency}
    return found


def _body(request: Request) -> dict[str, Any]:
    try:
        found = json.loads(request.get_data(as_text=True) or "{}")
    except ValueError as exc:
        raise _Refused("InvalidParameterValueException", f"the body is not JSON: {exc}") from None
    if not isinstance(found, dict):
        raise _Refused("InvalidParameterValueException", "the body is not a JSON object")
    return found


def _bare(exc: AwsError) -> str:
    """The registry's message without its ``lambda <Operation> failed with <Code>: `` prefix:
    the client's own error mapping puts one in front again."""
    text = str(exc)
    prefix = f"lambda {exc.operation} failed with {exc.code}: "
    return text.removeprefix(prefix)


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _error(code: str, message: str) -> Response:
    response = _json(_STATUS.get(code, 400), {"Type": "User", "message": message})
    response.headers["x-amzn-ErrorType"] = code
    return response
