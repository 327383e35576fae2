"""The local endpoint's DynamoDB speed-ups: an expression's text is worked on once; results stay
moto's."""

from __future__ import annotations

import pickle
import subprocess
import sys
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from relaystate.local import moto_patch, moto_patch_dynamodb
from relaystate.local.server import local_client


@pytest.fixture
def ddb(sqs_endpoint: str, boto_session: Any) -> Any:
    """A DynamoDB client of the session's (patched) endpoint."""
    return local_client("dynamodb", sqs_endpoint, session=boto_session)


@pytest.fixture
def plain_ddb(plain_moto_endpoint: str, boto_session: Any) -> Any:
    """A DynamoDB client of moto's own server, unpatched."""
    return local_client("dynamodb", plain_moto_endpoint, session=boto_session)


def test_apply_is_in_effect_for_the_embedded_endpoint_and_idempotent(ddb: Any) -> None:
    assert moto_patch_dynamodb.apply() is True
    assert moto_patch_dynamodb.apply() is True


def test_the_moto_process_gets_them_with_the_sqs_speed_ups() -> None:
    # moto_process runs ``python -m relaystate.local.moto_patch``, whose main() calls apply().
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from relaystate.local import moto_patch; moto_patch.apply(); "
            "from moto.dynamodb.parsing.expressions import UpdateExpressionParser as P; "
            "print(hasattr(P.make, '__wrapped__'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "True" == shown.stdout.strip()
    assert moto_patch.apply() is True


def test_a_traverser_that_walks_its_own_way_is_not_patched() -> None:
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser

    assert moto_patch_dynamodb._walks_as_known(DepthFirstTraverser)

    class Own(DepthFirstTraverser):  # type: ignore[misc]
        def traverse(self, node: Any) -> Any:
            return node

    try:
        assert not moto_patch_dynamodb._walks_as_known(DepthFirstTraverser)
    finally:
        del Own
        import gc

        gc.collect()  # __subclasses__ holds it weakly


# -- the same answers as an unpatched moto ----------------------------------------------------


class Trace:
    """What a DynamoDB client saw: each answer without its metadata, or the error."""

    def __init__(self, ddb: Any) -> None:
        self.ddb = ddb
        self.seen: list[Any] = []

    def call(self, operation: str, **params: Any) -> None:
        try:
            found = getattr(self.ddb, operation)(**params)
        except ClientError as exc:
            error = exc.response["Error"]
            item = exc.response.get("Item")
            self.seen.append((operation, error.get("Code"), error.get("Message"), item))
            return
        found.pop("ResponseMetadata", None)
        self.seen.append((operation, found))

    def twice(self, operation: str, **params: Any) -> None:
        """The call, then again: the second meets what the first left kept."""
        self.call(operation, **params)
        self.call(operation, **params)


def _table(ddb: Any, name: str, *keys: str) -> None:
    kinds = ("HASH", "RANGE")[: len(keys)]
    schema = [{"AttributeName": k, "KeyType": t} for k, t in zip(keys, kinds, strict=True)]
    ddb.create_table(
        TableName=name,
        KeySchema=schema,
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
        BillingMode="PAY_PER_REQUEST",
    )


def _update(seen: Trace, table: str, key: dict[str, Any], expression: str, **more: Any) -> None:
    seen.twice("update_item", TableName=table, Key=key, UpdateExpression=expression, **more)


def _scenario(ddb: Any, name: str) -> list[Any]:
    seen = Trace(ddb)
    _table(ddb, name, "pk", "sk")
    _table(ddb, f"{name}-k", "k")
    key = {"pk": {"S": "job#1"}, "sk": {"S": "shard#000000"}}
    now = {":now": {"N": "5"}, ":hop": {"N": "0"}, ":owner": {"S": "a"}}
    # The ledger's claim: a new item, then refused (the old item comes back), then a new hop.
    claim = (
        "SET #status = :running, #owner = :owner, hop = :hop, updated_ms = :now, "
        "outbox = if_not_exists(outbox, :packet) REMOVE outbox_delay, waiting_for"
    )
    for hop in ("0", "0", "1"):
        seen.call(
            "update_item",
            TableName=name,
            Key=key,
            UpdateExpression=claim,
            ConditionExpression="attribute_not_exists(pk) OR hop < :hop OR (hop = :hop AND "
            "(#status IN (:queued, :waiting) OR #owner = :owner))",
            ExpressionAttributeNames={"#status": "status", "#owner": "owner"},
            ExpressionAttributeValues={
                **now,
                ":hop": {"N": hop},
                ":running": {"S": "running"},
                ":packet": {"B": b"packet"},
                ":queued": {"S": "queued"},
                ":waiting": {"S": "waiting"},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    # Arithmetic, lists, maps, sets, the order of REMOVEs of a list, every ReturnValues.
    values = {
        ":one": {"N": "1"},
        ":l": {"L": [{"S": "x"}, {"S": "y"}, {"S": "z"}]},
        ":m": {"M": {"a": {"N": "1"}}},
        ":s": {"SS": ["p", "q"]},
    }
    _update(
        seen,
        name,
        key,
        "SET n = if_not_exists(n, :one) + :one, l = :l, m = :m ADD s :s",
        ExpressionAttributeValues=values,
        ReturnValues="ALL_NEW",
    )
    _update(
        seen,
        name,
        key,
        "SET l = list_append(l, :l), m.b = :one, n = n - :one REMOVE l[0], l[2] DELETE s :d",
        ExpressionAttributeValues={":l": values[":l"], ":one": values[":one"], ":d": {"SS": ["p"]}},
        ReturnValues="UPDATED_OLD",
    )
    _update(seen, name, key, "REMOVE m.a, outbox", ReturnValues="UPDATED_NEW")
    _update(seen, name, key, "ADD tally :one", ExpressionAttributeValues={":one": {"N": "2"}})
    # The checks of the text: each refusal as moto words it, every time it is asked.
    a, ab = {":a": {"N": "1"}}, {":a": {"N": "1"}, ":b": {"N": "2"}}
    _update(seen, name, key, "SET a = :a SET b = :b", ExpressionAttributeValues=ab)
    _update(seen, name, key, "SET a = :a, a = :b", ExpressionAttributeValues=ab)
    _update(seen, name, key, "SET m.a = :a, m = :b", ExpressionAttributeValues=ab)
    _update(seen, name, key, "SET pk = :a", ExpressionAttributeValues=a)
    _update(seen, name, key, "SET a = :missing")
    _update(seen, name, key, "SET #missing = :a", ExpressionAttributeValues=a)
    _update(seen, name, key, "SET a = = :a", ExpressionAttributeValues=a)
    _update(seen, name, key, "SET a = :a", ExpressionAttributeValues={":a": {"S": ""}})
    _update(seen, name, key, "SET x = nothing + :a", ExpressionAttributeValues=a)
    _update(seen, name, key, "SET n = n + :a", ExpressionAttributeValues={":a": {"S": "t"}})
    # One text, passing with one set of names and refused with another: the names count.
    both = "SET #x = :a, #y = :b"
    for names in ({"#x": "a", "#y": "b"}, {"#x": "a", "#y": "a"}):
        _update(seen, name, key, both, ExpressionAttributeNames=names, ExpressionAttributeValues=ab)
    # One text, passing on one table and refused on another, where it updates the key.
    k = {":a": {"S": "v"}}
    _update(seen, name, key, "SET k = :a", ExpressionAttributeValues=k)
    _update(seen, f"{name}-k", {"k": {"S": "1"}}, "SET k = :a", ExpressionAttributeValues=k)
    # Conditions: functions, BETWEEN, IN, NOT, size, parentheses; met, failed, not lexed.
    lo, hi = {":lo": {"N": "0"}}, {":hi": {"N": "10"}}
    for condition, values in (
        ("attribute_exists(n) AND n BETWEEN :lo AND :hi", {**lo, **hi}),
        ("NOT (size(l) > :hi) AND begins_with(pk, :p)", {**lo, **hi, ":p": {"S": "job"}}),
        ("n IN (:lo, :hi) OR attribute_type(l, :t)", {**lo, **hi, ":t": {"S": "L"}}),
        ("n <> :lo AND (contains(s, :q) OR n >= :hi)", {**lo, **hi, ":q": {"S": "q"}}),
        ("n > :hi", hi),
        ("n = :lo ;", lo),
    ):
        _update(
            seen,
            name,
            key,
            "SET c = :lo",
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    # A transaction's updates, and a scan's filter (the condition lexer's other user).
    for _ in range(2):
        seen.call(
            "transact_write_items",
            TransactItems=[
                {
                    "Update": {
                        "TableName": name,
                        "Key": key,
                        "UpdateExpression": "ADD done :one SET #s = :s",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":s": {"S": "x"}},
                    }
                }
            ],
        )
    seen.twice(
        "scan",
        TableName=name,
        FilterExpression="done > :z AND #s = :s",
        ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={":z": {"N": "0"}, ":s": {"S": "x"}},
    )
    seen.call("get_item", TableName=name, Key=key, ConsistentRead=True)
    return seen.seen


def test_updates_give_what_an_unpatched_moto_gives(ddb: Any, plain_ddb: Any) -> None:
    name = f"same-{uuid.uuid4().hex[:8]}"

    expected = _scenario(plain_ddb, name)

    assert expected == _scenario(ddb, name)


def test_the_kept_trees_are_never_changed(ddb: Any) -> None:
    _scenario(ddb, f"kept-{uuid.uuid4().hex[:8]}")

    kept = list(moto_patch_dynamodb._parsed.values())
    assert kept
    for parsed in kept:
        assert pickle.loads(parsed.blob).__class__ is parsed.tree.__class__
        assert _shape(pickle.loads(parsed.blob)) == _shape(parsed.tree)


def _shape(node: Any, seen: dict[int, int] | None = None) -> Any:
    """A node's classes, attributes and links (parents as the position they were met at)."""
    seen = {} if seen is None else seen
    if id(node) in seen:
        return ("seen", seen[id(node)])
    if hasattr(node, "__dict__"):
        seen[id(node)] = len(seen)
        fields = sorted(vars(node).items())
        return (type(node).__name__, [(k, _shape(v, seen)) for k, v in fields])
    if isinstance(node, list):
        return [_shape(v, seen) for v in node]
    return node


# -- the work done once a text ----------------------------------------------------------------


def test_a_repeated_update_parses_its_text_once_and_checks_it_once(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.parsing import expressions, validators

    seen: list[str] = []
    tokenize = expressions.ExpressionTokenizer.make_list
    count = validators.ActionCountValidator.verify_action_counts

    def tokenizing(text: str) -> Any:
        seen.append("tokenized")
        return tokenize(text)

    def counting(self: Any, node: Any) -> Any:
        seen.append("checked")
        return count(self, node)

    monkeypatch.setattr(expressions.ExpressionTokenizer, "make_list", staticmethod(tokenizing))
    monkeypatch.setattr(validators.ActionCountValidator, "verify_action_counts", counting)
    name = f"once-{uuid.uuid4().hex[:8]}"
    _table(ddb, name, "pk")
    text = f"SET a{uuid.uuid4().hex[:8]} = :a, b = :a, c = :a REMOVE d"

    ddb.update_item(
        TableName=name, Key={"pk": {"S": "1"}}, UpdateExpression=text,
        ExpressionAttributeValues={":a": {"N": "1"}},
    )  # fmt: skip
    first = list(seen)
    for value in ("2", "3"):
        ddb.update_item(
            TableName=name, Key={"pk": {"S": "1"}}, UpdateExpression=text,
            ExpressionAttributeValues={":a": {"N": value}},
        )  # fmt: skip

    assert ["tokenized"] == first[:1]
    assert "checked" in first
    assert first == seen  # nothing more for the two repeats
    item = ddb.get_item(TableName=name, Key={"pk": {"S": "1"}})["Item"]
    assert {"N": "3"} == item["c"]


def test_a_condition_is_parsed_once_a_text_and_evaluated_with_each_requests_values(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb import comparisons

    seen: list[str] = []
    paths = comparisons.ConditionExpressionParser._parse_paths

    def parsing_paths(self: Any, nodes: Any) -> Any:
        seen.append("parsed")
        return paths(self, nodes)

    monkeypatch.setattr(comparisons.ConditionExpressionParser, "_parse_paths", parsing_paths)
    name = f"cond-{uuid.uuid4().hex[:8]}"
    _table(ddb, name, "pk")
    condition = "attribute_not_exists(pk) OR a < :n"
    for value in ("1", "2", "3"):
        ddb.update_item(
            TableName=name, Key={"pk": {"S": "1"}}, UpdateExpression="SET a = :n",
            ConditionExpression=condition, ExpressionAttributeValues={":n": {"N": value}},
        )  # fmt: skip
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        ddb.update_item(
            TableName=name, Key={"pk": {"S": "1"}}, UpdateExpression="SET a = :n",
            ConditionExpression=condition, ExpressionAttributeValues={":n": {"N": "2"}},
        )  # fmt: skip

    assert ["parsed"] == seen  # once for the text, not twice a request
    item = ddb.get_item(TableName=name, Key={"pk": {"S": "1"}})["Item"]
    assert {"N": "3"} == item["a"]  # each request's condition evaluated with its own values


def test_a_kept_trees_clauses_are_found_once_and_are_what_moto_finds(ddb: Any) -> None:
    from moto.dynamodb.parsing import ast_nodes

    name = f"clauses-{uuid.uuid4().hex[:8]}"
    _table(ddb, name, "pk")
    text = f"SET a{uuid.uuid4().hex[:8]} = :a, #b = :a REMOVE c"
    ddb.update_item(
        TableName=name, Key={"pk": {"S": "1"}}, UpdateExpression=text,
        ExpressionAttributeNames={"#b": "b"}, ExpressionAttributeValues={":a": {"N": "1"}},
    )  # fmt: skip

    kept = moto_patch_dynamodb._parsed[text]
    assert kept.clauses  # the handler's look for names and values, kept
    moto_find = ast_nodes.Node.find_clauses.__wrapped__
    for kinds in kept.clauses:
        expected = moto_find(kept.tree, list(kinds))
        found = kept.tree.find_clauses(list(kinds))
        assert [id(n) for n in expected] == [id(n) for n in found]
        assert found is not kept.tree.find_clauses(list(kinds))  # a list of the caller's


def _between(ddb: Any, name: str) -> list[Any]:
    """Updates whose condition BETWEEN looks at a value (a NULL bound is refused)."""
    seen = Trace(ddb)
    _table(ddb, name, "pk")
    condition = "attribute_not_exists(pk) OR a BETWEEN :low AND :high"
    for low in ({"N": "0"}, {"N": "0"}, {"N": "1"}, {"NULL": True}):
        seen.call(
            "update_item", TableName=name, Key={"pk": {"S": "1"}}, UpdateExpression="SET a = :low",
            ConditionExpression=condition,
            ExpressionAttributeValues={":low": low, ":high": {"N": "5"}},
        )  # fmt: skip
    return seen.seen


def test_a_condition_that_looks_at_its_values_is_parsed_by_moto_every_time(
    ddb: Any, plain_ddb: Any
) -> None:
    name = f"between-{uuid.uuid4().hex[:8]}"
    expected = _between(plain_ddb, name)

    assert expected == _between(ddb, name)
    kept = [
        v for k, v in moto_patch_dynamodb._templates.items() if "BETWEEN :low AND :high" in k[0]
    ]
    assert [moto_patch_dynamodb._UNSUITED] == kept


# -- projections ------------------------------------------------------------------------------

#: One attribute of every kind, and a ledger shard's names.
_EVERY_KIND = {
    "s": {"S": "text"},
    "n": {"N": "12.50"},
    "b": {"B": b"\x00\xffpacket"},
    "t": {"BOOL": True},
    "z": {"NULL": True},
    "l": {"L": [{"S": "x"}, {"N": "2"}, {"M": {"k": {"S": "v"}}}]},
    "m": {"M": {"a": {"N": "1"}, "b": {"L": [{"S": "y"}]}}},
    "ss": {"SS": ["p", "q"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"a", b"b"]},
    "status": {"S": "done"},
    "outbox": {"B": bytes(range(256)) * 40},
}


def _projections(ddb: Any, name: str) -> list[Any]:
    seen = Trace(ddb)
    _table(ddb, name, "pk", "sk")
    for sk in ("a", "b"):
        seen.call(
            "put_item", TableName=name, Item={"pk": {"S": "1"}, "sk": {"S": sk}, **_EVERY_KIND}
        )
    everything = ", ".join(n for n in _EVERY_KIND if n != "status")
    for projection, names in (
        ("s, n, b, t, z, gone, #st", {"#st": "status"}),  # top-level names: the fast path
        (everything, None),
        ("pk, sk", None),
        ("l[1], m.a, s", None),  # nested paths and list items: moto's own
        ("m, m.a", None),
        ("s, s", None),  # a name twice: moto's own (and its answer)
        ("#o", {"#o": "outbox"}),
    ):
        more: dict[str, Any] = {"ProjectionExpression": projection}
        if names:
            more["ExpressionAttributeNames"] = names
        seen.call(
            "query",
            TableName=name,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "1"}},
            **more,
        )
        seen.call("get_item", TableName=name, Key={"pk": {"S": "1"}, "sk": {"S": "a"}}, **more)
        seen.call("scan", TableName=name, **more)
    return seen.seen


def test_projections_give_what_an_unpatched_moto_gives(ddb: Any, plain_ddb: Any) -> None:
    name = f"proj-{uuid.uuid4().hex[:8]}"

    expected = _projections(plain_ddb, name)

    assert _sets_sorted(expected) == _sets_sorted(_projections(ddb, name))


def _sets_sorted(found: Any) -> Any:
    """``found`` with each string, number and binary set sorted: moto keeps them in Python
    sets, whose order differs from one process to another."""
    if isinstance(found, dict):
        return {
            k: sorted(v) if k in ("SS", "NS", "BS") else _sets_sorted(v) for k, v in found.items()
        }
    if isinstance(found, list | tuple):
        return [_sets_sorted(v) for v in found]
    return found


def test_a_projection_of_names_converts_only_the_named_attributes(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    name = f"conv-{uuid.uuid4().hex[:8]}"
    _table(ddb, name, "pk")
    ddb.put_item(TableName=name, Item={"pk": {"S": "1"}, **_EVERY_KIND})
    converted: list[Any] = []
    convert = DynamoType.to_regular_json

    def counting(self: Any) -> Any:
        converted.append(self.type)
        return convert(self)

    monkeypatch.setattr(DynamoType, "to_regular_json", counting)
    monkeypatch.setattr(Item, "to_regular_json", lambda self: pytest.fail("whole item converted"))

    found = ddb.get_item(
        TableName=name,
        Key={"pk": {"S": "1"}},
        ProjectionExpression="s, n, #st",
        ExpressionAttributeNames={"#st": "status"},
    )["Item"]

    assert {"s": {"S": "text"}, "n": {"N": "12.50"}, "status": {"S": "done"}} == found
    assert ["S", "N", "S"] == converted  # the packet (outbox) never converted


# -- an attribute set: the item's size bounded before moto counts it -------------------------


def _sizes(ddb: Any, name: str) -> list[Any]:
    seen = Trace(ddb)
    _table(ddb, name, "pk")
    key = {"pk": {"S": "big"}}
    # ~390 KB of text (a character of 2 UTF-8 bytes), then sets that stay under the limit and
    # one that goes past it; a map and a list are counted by moto's own sum.
    seen.call("put_item", TableName=name, Item={**key, "a": {"S": "é" * 195_000}})
    for attribute, value in (
        ("b", {"S": "x" * 10_000}),
        ("c", {"B": b"y" * 1_000}),
        ("d", {"M": {"e": {"S": "z" * 1_000}}}),
        ("f", {"L": [{"N": "1"}, {"BOOL": True}]}),
        ("g", {"S": "w" * 20_000}),  # past 405,000 bytes: refused
        ("h", {"NULL": True}),
    ):
        seen.call(
            "update_item",
            TableName=name,
            Key=key,
            UpdateExpression="SET #a = :v",
            ExpressionAttributeNames={"#a": attribute},
            ExpressionAttributeValues={":v": value},
        )
    seen.call("get_item", TableName=name, Key=key, ConsistentRead=True)
    return seen.seen


def test_item_sizes_give_what_an_unpatched_moto_gives(ddb: Any, plain_ddb: Any) -> None:
    name = f"sizes-{uuid.uuid4().hex[:8]}"

    expected = _sizes(plain_ddb, name)

    assert "ItemSizeToUpdateTooLarge" in str(expected) or "Item size" in str(expected)
    assert expected == _sizes(ddb, name)


def _keyed_table(ddb: Any, prefix: str) -> tuple[str, dict[str, Any]]:
    """A new table keyed by ``pk`` alone, and the key of an item in it."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    _table(ddb, name, "pk")
    return name, {"pk": {"S": "k"}}


def test_a_set_plainly_under_the_limit_counts_no_size(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    name, key = _keyed_table(ddb, "bound")
    ddb.put_item(TableName=name, Item={**key, "a": {"S": "x"}, "b": {"N": "1"}})
    counted: list[int] = []
    size = DynamoType.size

    def counting(self: Any) -> int:
        counted.append(1)
        return size(self)

    monkeypatch.setattr(DynamoType, "size", counting)

    ddb.update_item(
        TableName=name,
        Key=key,
        UpdateExpression="SET c = :c, b = :b",
        ExpressionAttributeValues={":c": {"B": b"z"}, ":b": {"N": "2"}},
    )

    assert counted == []
    assert ddb.get_item(TableName=name, Key=key)["Item"]["c"] == {"B": b"z"}


# -- the resolving pass's hook, and reserved words --------------------------------------------


def _paths(ddb: Any, name: str) -> list[Any]:
    seen = Trace(ddb)
    _table(ddb, name, "pk")
    key = {"pk": {"S": "p"}}
    seen.call(
        "put_item",
        TableName=name,
        Item={**key, "a": {"N": "1"}, "b": {"S": "x"}, "s": {"SS": ["u", "v"]}},
    )
    for expression, values in (
        ("SET c = a, d = if_not_exists(d, b)", None),
        ("SET a = a + :one, e = list_append(if_not_exists(e, :empty), :l)", "counts"),
        ("ADD a :one DELETE s :u REMOVE b", "counts"),
        ("SET f = nothing_here", None),  # a value path that does not exist: refused
        ("SET size = :one", "counts"),  # a reserved word as a plain name: refused
        ("SET c = #s", None),
    ):
        params: dict[str, Any] = {}
        if values:
            params["ExpressionAttributeValues"] = {
                ":one": {"N": "1"},
                ":empty": {"L": []},
                ":l": {"L": [{"S": "y"}]},
                ":u": {"SS": ["u"]},
            }
            used = {k: v for k, v in params["ExpressionAttributeValues"].items() if k in expression}
            params["ExpressionAttributeValues"] = used
        if "#s" in expression:
            params["ExpressionAttributeNames"] = {"#s": "size"}
        _update(seen, name, key, expression, **params)
    seen.call("get_item", TableName=name, Key=key, ConsistentRead=True)
    return seen.seen


def test_paths_and_reserved_words_give_what_an_unpatched_moto_gives(
    ddb: Any, plain_ddb: Any
) -> None:
    name = f"paths-{uuid.uuid4().hex[:8]}"

    expected = _paths(plain_ddb, name)

    assert "reserved keyword" in str(expected)
    assert expected == _paths(ddb, name)


def test_the_resolving_pass_asks_an_action_its_kind_once_a_type(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.parsing import validators

    name, key = _keyed_table(ddb, "hook")
    asked: list[Any] = []

    def counting(value: Any, kinds: Any) -> bool:
        if isinstance(kinds, tuple) and len(kinds) == 4:
            asked.append(kinds)
        return isinstance(value, kinds)

    monkeypatch.setattr(validators, "isinstance", counting, raising=False)

    ddb.update_item(
        TableName=name,
        Key=key,
        UpdateExpression="SET a = :a, b = if_not_exists(b, :a) REMOVE c",
        ExpressionAttributeValues={":a": {"S": "x"}},
    )

    assert asked == []
    assert ddb.get_item(TableName=name, Key=key)["Item"] == {
        **key,
        "a": {"S": "x"},
        "b": {"S": "x"},
    }


def test_reserved_words_are_what_moto_lists() -> None:
    from moto.dynamodb.parsing.reserved_keywords import ReservedKeywords

    words = ReservedKeywords.get_reserved_keywords()

    assert type(words) is moto_patch_dynamodb._Keywords
    assert all(word in words for word in list(words))
    assert "SIZE" in words
    assert "LEASE_UNTIL" not in words
    assert "size" not in words
    assert 1 not in words
