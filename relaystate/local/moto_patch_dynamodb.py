"""Speed-ups for moto's DynamoDB server: an ``UpdateItem`` stops re-deriving what its text fixes.

A ledger hop makes two conditional ``UpdateItem`` calls (their expressions set 8 to 12
attributes), and moto 5's server took ~12 ms to answer each against ~3 ms for a
``SendMessage`` (medians, whole requests, measured on its own process). Most of it went on work
that depends on the expressions' text alone, done afresh on every call, some of it twice::

    UpdateExpressionParser.make   the update expression tokenized and parsed into a tree,
                                  once for the response's checks and again for the write
    Validator(...)                that tree deep-copied (``copy.deepcopy``: ~100 nodes with
                                  their parent links), for the validators to rewrite
    UpdateExpressionValidator     ten passes over the copy; the first three only look for
                                  errors of the text -- two SET clauses, a path set twice, a
                                  key attribute updated -- and two of them run on every
                                  nested node, so a pass costs O(nodes^2); every pass asks
                                  each node twice whether it is of a kind (abc's isinstance)
                                  and rebuilds the pass's kinds for every node
    ConditionExpressionParser     the condition expression lexed, a pattern match a token,
                                  and parsed, once for the response's checks and again for
                                  the write
    Node.find_clauses             the response's checks walking the update expression's tree
                                  for the names and values it uses

And one on the read side: ``Item.project`` (a ProjectionExpression, as a ledger's status
sends with ~110 names) turned the whole item into plain JSON again for every name -- a
deep copy with each binary value decoded -- so a shard item holding a 20 KB packet was copied
110 times to answer a few hundred bytes of it; a Query of 400 such items took ~0.7 s in moto.

Here each is done once per distinct text: a parsed tree is kept by its text, and the
validators' copy is unpickled from the tree's pickle (what ``deepcopy`` makes, at ~1/8 of the
cost); the three checks of the text are skipped for a (text, attribute names, key attributes)
that passed them before -- they read nothing else, so they would pass again -- and the lexer's
tokens are kept by the condition's text (fresh nodes each call: later stages build on them).
A condition's text is parsed once for its names, with a stand-in for each value, and kept as a
template when every part of it only keeps its operands (comparisons, AND/OR/NOT, IN,
attribute_exists/_not_exists; BETWEEN and the rest look at a value, and are moto's every time):
a request gets a copy with moto's operand of each of its values in the stand-ins. The parse that
follows one in the same thread with the same text and the very same names and values,
unchanged (a request's second), is given the first one's result; a kept tree's names and values
are found once.
A projection of plain top-level names converts only those attributes, once each, and
builds the projected item from them as moto does (any other projection is moto's own).
A pass walks the tree as moto's ``DepthFirstTraverser`` does -- children first, in order, the
same hook before each child, the same nodes processed and re-linked -- with its kinds and its
processors taken once a pass (moto made its map again for every node processed) and each node
type's answer to ``isinstance`` once a process. moto's own handling of a ledger ``UpdateItem``
(its handler, without the server's share of a request) then takes ~1 ms of CPU, was ~1.3
(``DynamoHandler.call_action`` timed in the embedded endpoint). The rest -- the values
substituted, the item read, the conditions evaluated, the write, every error -- is moto's own
code, on the same inputs; a text that fails to parse or validate is not kept, so it fails as
it does in moto every time. ``tests/functional/test_moto_patch_dynamodb.py`` sends the same
requests to an unpatched moto and compares.

The resolving pass's hook before each child asks the parent's kind once a type (moto asked
isinstance of four abc classes for each of ~95 children a pass), and moto's 573 reserved words
are looked up in a set (a list: ~4 us for each plain name of an expression, ~20 a ledger hop).
An attribute set into an item (moto sums the size of every attribute at each one: ~200 sizes
for an update of 10 attributes of a 20-attribute item) first bounds the item's size from its
texts' lengths (4 bytes a character at most) and its binary values' lengths; an item plainly
under moto's limit is set without counting, and any other is counted by moto.

Applied with the SQS speed-ups (:func:`relaystate.local.moto_patch.apply`), in the local
endpoints only, and only to a moto whose names it knows; on any other it does nothing.

Example:
    >>> from relaystate.local import moto_patch_dynamodb
    >>> moto_patch_dynamodb.apply()  # doctest: +SKIP
    True
"""

from __future__ import annotations

import copy
import functools
import importlib
import pickle
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from .moto_once import once

__all__ = ["apply"]

#: Guards the kept texts and trees.
_lock = threading.Lock()
#: Kept texts at most, per cache: a relay's ledger writes a few hundred distinct expressions
#: (a timeline slot each), a job of the user's may write any number.
_LIMIT = 4096
#: moto's modules the speed-ups patch.
_MODULES = (
    "moto.dynamodb.comparisons",
    "moto.dynamodb.parsing.ast_nodes",
    "moto.dynamodb.parsing.expressions",
    "moto.dynamodb.parsing.validators",
    "moto.dynamodb.models.dynamo_type",
)
#: The validators that read only the expression, its attribute names and the table's keys.
_TEXT_CHECKS = ("ActionCountValidator", "OverlappingPathsValidator", "UpdateHashRangeKeyValidator")


class _Parsed:
    """An update expression's tree as moto parsed it, never handed to code that changes it,
    with its pickle (for copies) and its text (for the checks that passed)."""

    __slots__ = ("blob", "clauses", "text", "tree")

    def __init__(self, text: str, tree: Any) -> None:
        self.text = text
        self.tree = tree
        self.blob = pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL)
        #: The tree's clauses of some kinds (``find_clauses``), by the kinds asked for.
        self.clauses: dict[tuple[type, ...], tuple[Any, ...]] = {}


#: Update expression text -> its tree (moto's callers only read it, or deep-copy it).
_parsed: dict[str, _Parsed] = {}
#: id(tree) -> the kept tree (kept alive by ``_parsed``, so the id is not reused).
_trees: dict[int, _Parsed] = {}
#: (text, attribute names, key attributes) whose text checks passed.
_passed: set[tuple[Any, ...]] = set()
#: Condition expression text -> its tokens, (nonterminal, kind, text, value) each.
_lexed: dict[str, tuple[tuple[str, str, str, str], ...]] = {}
#: The condition this thread parsed last, kept for the one parse of it that follows.
_last_condition = threading.local()


@once
def apply() -> bool:
    """Install the speed-ups into this process's moto (once); ``False`` if moto is unknown.

    Example:
        >>> from relaystate.local import moto_patch_dynamodb
        >>> moto_patch_dynamodb.apply()  # doctest: +SKIP
        True
    """
    return _install()


def _install() -> bool:
    """Patch moto's names in place; ``False``, and nothing patched, if one is not as known."""
    found = [_module(name) for name in _MODULES]
    if None in found:  # pragma: no cover - moto is a dependency of the local extra
        return False
    comparisons, ast_nodes, expressions, validators, dynamo_type = found
    parser = getattr(expressions, "UpdateExpressionParser", None)
    validator = getattr(validators, "UpdateExpressionValidator", None)
    condition = getattr(comparisons, "ConditionExpressionParser", None)
    traverser = getattr(ast_nodes, "DepthFirstTraverser", None)
    node = getattr(ast_nodes, "Node", None)
    if (
        traverser is None
        or node is None
        or not _walks_as_known(traverser)
        or parser is None
        or validator is None
        or condition is None
        or not callable(getattr(parser, "make", None))
        or getattr(validators, "deepcopy", None) is not copy.deepcopy
        or not callable(getattr(validator, "validate", None))
        or not all(hasattr(validators, name) for name in _TEXT_CHECKS)
        or not callable(getattr(condition, "_lex_condition_expression", None))
        or not callable(getattr(condition, "parse", None))
        or not hasattr(condition, "Node")
        or not callable(getattr(node, "find_clauses", None))
        or not _projects_as_known(dynamo_type)
    ):
        return False
    parser.make = classmethod(_parsing_once(parser, parser.make.__func__))
    validators.deepcopy = _copying_kept_trees
    checks = tuple(getattr(validators, name) for name in _TEXT_CHECKS)
    validator.__init__ = _skipping_passed_checks(validator.__init__, checks)
    validator.validate = _remembering_passes(validator.validate)
    condition._lex_condition_expression = _lexing_once(condition._lex_condition_expression)
    condition.parse = _parsing_twice_once(condition, condition.parse)
    node.find_clauses = _finding_kept_clauses(node.find_clauses)
    traverser.traverse_node_recursively = _walking(traverser, node, _resolving_hook(validators))
    dynamo_type.Item.project = _projecting_named_attributes(dynamo_type)
    if _sizes_as_known(dynamo_type):
        sized = dynamo_type.LimitedSizeDict
        sized.__setitem__ = _bounding_sizes(dynamo_type, sized.__setitem__)
    _looking_keywords_up(_module("moto.dynamodb.parsing.reserved_keywords"))
    return True


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _keep(cache: dict[str, Any], text: str, value: Any) -> None:
    if len(cache) >= _LIMIT:
        cache.clear()  # rare; what is dropped is parsed again
        if cache is _parsed:
            _trees.clear()
    cache[text] = value


# -- the update expression parsed once a text ---------------------------------------------------


def _parsing_once(patched: type, make: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(make)
    def wrapper(cls: Any, expression_str: str) -> Any:
        if cls is not patched or not isinstance(expression_str, str):
            return make(cls, expression_str)  # a subclass of moto's: its own parse
        found = _parsed.get(expression_str)
        if found is None:
            tree = make(cls, expression_str)  # moto's errors raised here; nothing kept
            if not _parents_consistent(tree):
                return tree  # not a tree the checks can be skipped on: moto's way, every time
            found = _Parsed(expression_str, tree)
            with _lock:
                _keep(_parsed, expression_str, found)
                _trees[id(tree)] = found
        return found.tree

    return wrapper


def _parents_consistent(node: Any) -> bool:
    """Whether every node's ``parent`` is the node that holds it: then a pass whose processors
    return the nodes they are given leaves the tree as it was (moto's traverser re-links each
    processed node to the parent it records)."""
    for child in getattr(node, "children", None) or ():
        if hasattr(child, "children") and (
            child.parent is not node or not _parents_consistent(child)
        ):
            return False
    return True


def _copying_kept_trees(x: Any, memo: dict[int, Any] | None = None, _nil: Any = None) -> Any:
    """``copy.deepcopy``, but a kept tree is unpickled (the same nodes, links and values)."""
    kept = _trees.get(id(x)) if memo is None else None
    if kept is not None and kept.tree is x:
        return pickle.loads(kept.blob)
    return copy.deepcopy(x, memo)


# -- the checks of the text skipped once passed -------------------------------------------------


def _check_key(validator: Any) -> tuple[Any, ...] | None:
    kept = getattr(validator, "_relaystate_parsed", None)
    if kept is None:
        return None
    names = validator.expression_attribute_names
    try:
        key = (
            kept.text,
            None if names is None else tuple(sorted(names.items())),
            tuple(validator.table.table_key_attrs),
        )
        hash(key)
    except TypeError:  # names that are not text: moto's checks, every time
        return None
    return key


def _skipping_passed_checks(init: Callable[..., None], checks: tuple[type, ...]) -> Any:
    @functools.wraps(init)
    def wrapper(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
        init(self, expression, *args, **kwargs)
        kept = _trees.get(id(expression))
        if kept is None or kept.tree is not expression:
            return
        self._relaystate_parsed = kept
        if _check_key(self) in _passed:
            self.processors = [p for p in self.processors if not isinstance(p, checks)]

    return wrapper


def _remembering_passes(validate: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @functools.wraps(validate)
    def wrapper(self: Any) -> Any:
        validated = validate(self)  # an error: nothing remembered
        key = _check_key(self)
        if key is not None:
            if len(_passed) >= _LIMIT:
                _passed.clear()
            _passed.add(key)
        return validated

    return wrapper


# -- a kept tree's clauses found once -----------------------------------------------------------


def _finding_kept_clauses(find: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``Node.find_clauses``, but a kept tree's clauses of some kinds are found once (moto's
    request handler asks for its names and values on every ``UpdateItem``, to check them
    against the request's); the nodes are the kept tree's, which nothing changes."""

    @functools.wraps(find)
    def wrapper(self: Any, clause_types: Any) -> Any:
        kept = _trees.get(id(self))
        if kept is None or kept.tree is not self:
            return find(self, clause_types)
        try:
            kinds = tuple(clause_types)
            found = kept.clauses.get(kinds)
        except TypeError:  # kinds that are not types: moto's way
            return find(self, clause_types)
        if found is None:
            found = tuple(find(self, clause_types))
            with _lock:
                kept.clauses[kinds] = found
        return list(found)

    return wrapper


# -- a write's condition parsed once, not twice ---------------------------------------------------


def _snapshot(mapping: Any) -> Any:
    """A copy of a request's names or values deep enough to tell whether one was changed
    (moto's values are ``{type: value}`` dicts)."""
    if not isinstance(mapping, dict):
        return mapping
    return {k: dict(v) if isinstance(v, dict) else v for k, v in mapping.items()}


def _parsing_twice_once(patched: Any, parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``ConditionExpressionParser.parse``, but a condition's text is parsed once for its
    names: later requests get a copy of that parse with their own values in it
    (:func:`_from_template`); and a parse that repeats the one before it in this thread -- the
    same text, the very same names and values, unchanged -- gives that one's result. moto
    parses a conditional write's condition twice a request: its handler, for the names and
    values the condition uses, then its backend, to evaluate it. The condition (an ``Op``
    tree) is only evaluated, never changed; a result is given again once at most."""

    @functools.wraps(parse)
    def wrapper(self: Any) -> Any:
        text = self.condition_expression
        if type(self) is not patched or not isinstance(text, str) or not text:
            return parse(self)
        names, values = self.expression_attribute_names, self.expression_attribute_values
        kept = getattr(_last_condition, "kept", None)
        _last_condition.kept = None
        if (
            kept is not None
            and kept[0] == text
            and kept[1] is names
            and kept[2] is values
            and kept[3] == _snapshot(names)
            and kept[4] == _snapshot(values)
        ):
            op, names_found, values_found = kept[5:]
        else:
            made = _from_template(patched, parse, text, names, values)
            if made is None:
                op = parse(self)  # moto's errors raised here; nothing kept
                names_found = tuple(self.expr_attr_names_found)
                values_found = tuple(self.expr_attr_values_found)
                del self.expr_attr_names_found[:], self.expr_attr_values_found[:]
            else:
                op, names_found, values_found = made
            _last_condition.kept = (
                text,
                names,
                values,
                _snapshot(names),
                _snapshot(values),
                op,
                names_found,
                values_found,
            )
        self.expr_attr_names_found.extend(names_found)
        self.expr_attr_values_found.extend(values_found)
        return op

    return wrapper


# -- a condition's parse kept as a template of its values ---------------------------------------

#: A template's stand-in for a value: ``{_SLOT: name}``, a type no value of DynamoDB has.
_SLOT = "relaystate:slot"
#: The kinds of a parsed condition whose constructors only keep their operands (none looks at
#: a value: ``BETWEEN`` refuses a NULL bound, ``attribute_type`` reads its type, so a condition
#: with those is parsed by moto every time), and the operands a template is made of.
_TEMPLATE_KINDS = (
    "OpDefault",
    "OpNot",
    "OpAnd",
    "OpOr",
    "OpLessThan",
    "OpGreaterThan",
    "OpEqual",
    "OpNotEqual",
    "OpLessThanOrEqual",
    "OpGreaterThanOrEqual",
    "FuncAttrExists",
    "FuncIn",
)
_UNSUITED = object()
#: (text, names, value names) -> (template, names found, values found), or _UNSUITED.
_templates: dict[Any, Any] = {}


def _from_template(
    parser: Any, parse: Callable[[Any], Any], text: str, names: Any, values: Any
) -> tuple[Any, tuple[str, ...], tuple[str, ...]] | None:
    """The condition moto's parse gives for ``text``, ``names`` and ``values``, as a copy of the
    template kept for the text and names with ``values`` put in its stand-ins; ``None`` when
    the condition cannot be made so (moto parses it: its errors, its result)."""
    from moto.dynamodb import comparisons

    try:
        key = (
            text,
            None if names is None else tuple(sorted(names.items())),
            None if values is None else tuple(sorted(values)),
        )
        kept = _templates.get(key)
    except TypeError:  # names or values that are not text: moto's way
        return None
    if kept is None:
        kept = _template(parser, parse, text, names, values, comparisons)
        with _lock:
            _keep(_templates, key, kept)  # type: ignore[arg-type]
    if kept is _UNSUITED:
        return None
    template, names_found, values_found = kept
    return _filled(template, values, comparisons, {}), names_found, values_found


def _template(
    parser: Any, parse: Callable[[Any], Any], text: str, names: Any, values: Any, comparisons: Any
) -> Any:
    """moto's parse of ``text`` with a stand-in for each value, if every part of it is of a
    kind that does not look at its values; else :data:`_UNSUITED`."""
    slots = None if values is None else {name: {_SLOT: name} for name in values}
    made = parser(text, names, slots)
    try:
        template = parse(made)
    except Exception:  # moto raises it again on its own parse, with the real values
        return _UNSUITED
    kinds = tuple(getattr(comparisons, name, None) for name in _TEMPLATE_KINDS)
    if None in kinds or not _made_of(template, kinds, comparisons, 0):
        return _UNSUITED
    return template, tuple(made.expr_attr_names_found), tuple(made.expr_attr_values_found)


def _made_of(node: Any, kinds: tuple[Any, ...], comparisons: Any, depth: int) -> bool:
    """Whether a parsed condition holds only ``kinds``, paths and stand-ins for values, each
    with the attributes the copy rebuilds."""
    if depth > 100:
        return False
    cls = type(node)
    if cls is comparisons.AttributeValue:
        return set(vars(node)) == {"type", "value"} and node.type == _SLOT
    if cls is comparisons.AttributePath:
        return set(vars(node)) == {"path"}
    if cls not in kinds:
        return False
    for value in vars(node).values():
        parts = value if isinstance(value, tuple) else (value,)
        for part in parts:
            if part is not None and not _made_of(part, kinds, comparisons, depth + 1):
                return False
    return True


def _filled(node: Any, values: Any, comparisons: Any, memo: dict[int, Any]) -> Any:
    """A copy of a template with ``values`` in its stand-ins (moto's ``AttributeValue`` of each);
    paths are shared (nothing changes them), a node the template shares is shared in the copy."""
    found = memo.get(id(node))
    if found is not None:
        return found
    cls = type(node)
    if cls is comparisons.AttributeValue:
        made = comparisons.AttributeValue(values[node.value])
    elif cls is comparisons.AttributePath:
        made = node
    else:
        made = object.__new__(cls)
        for name, value in vars(node).items():
            if isinstance(value, tuple):
                value = tuple(_filled(part, values, comparisons, memo) for part in value)
            elif value is not None:
                value = _filled(value, values, comparisons, memo)
            setattr(made, name, value)
    memo[id(node)] = made
    return made


# -- the condition expression lexed once a text -------------------------------------------------


def _lexing_once(lex: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @functools.wraps(lex)
    def wrapper(self: Any) -> Any:
        text = self.condition_expression
        tokens = _lexed.get(text)
        if tokens is None:
            nodes = lex(self)  # moto's errors raised here; nothing kept
            if any(node.children for node in nodes):
                return nodes  # not what moto's lexer makes now: nothing kept
            tokens = tuple((n.nonterminal, n.kind, n.text, n.value) for n in nodes)
            with _lock:
                _keep(_lexed, text, tokens)
            return nodes
        node = self.Node
        return deque(node(nt, kind, txt, value, []) for nt, kind, txt, value in tokens)

    return wrapper


# -- a projection of top-level names: each named attribute converted once ----------------------


def _projects_as_known(dynamo_type: Any) -> bool:
    """Whether moto's ``Item.project`` and the names it works with are as known."""
    item = getattr(dynamo_type, "Item", None)
    return (
        item is not None
        and callable(getattr(item, "project", None))
        and callable(getattr(dynamo_type, "find_nested_key", None))
        and callable(getattr(dynamo_type, "merge_dicts", None))
        and callable(getattr(getattr(dynamo_type, "serializer", None), "serialize", None))
        and callable(getattr(getattr(dynamo_type, "deserializer", None), "deserialize", None))
    )


def _projecting_named_attributes(dynamo_type: Any) -> Callable[..., Any]:
    """``Item.project``, but for plain top-level names (``[["a"], ["b"]]``, each once) only
    the named attributes are converted, once each. moto's converts the whole item for every
    name, and then keeps of it just what ``{name: value}`` this builds: ``find_nested_key``
    of one plain name reads the converted item at that name alone, and ``merge_dicts`` of
    distinct names adds each one's value as it is."""
    item_type = dynamo_type.Item
    project = item_type.project
    serializer, deserializer = dynamo_type.serializer, dynamo_type.deserializer

    @functools.wraps(project)
    def wrapper(self: Any, projection_expressions: Any) -> Any:
        names = [path[0] for path in projection_expressions if len(path) == 1]
        if (
            type(self) is not item_type
            or len(names) != len(projection_expressions)
            or len(set(names)) != len(names)
            or any(not isinstance(name, str) or name.endswith("]") for name in names)
        ):
            return project(self, projection_expressions)  # nested paths, list items: moto's
        attrs = self.attrs
        result = {
            name: deserializer.deserialize(attrs[name].to_regular_json())
            for name in names
            if name in attrs
        }
        return item_type(
            hash_key=self.hash_key,
            range_key=self.range_key,
            attrs=serializer.serialize(result)["M"],
        )

    return wrapper


# -- a pass over the tree: moto's walk, its kinds and isinstance answers kept -----------------

#: The methods of moto's traverser that the walk below does as moto does.
_TRAVERSER = ("traverse", "traverse_node_recursively", "nodes_to_be_processed", "process")


def _walks_as_known(traverser: type) -> bool:
    """Whether no traverser of moto's changes how a pass walks (only what it processes)."""
    if not all(callable(getattr(traverser, name, None)) for name in _TRAVERSER):
        return False
    subclasses: list[type] = list(traverser.__subclasses__())
    while subclasses:
        sub = subclasses.pop()
        if any(name in vars(sub) for name in _TRAVERSER):
            return False
        subclasses.extend(sub.__subclasses__())
    return True


#: What moto's resolving pass's ``pre_processing_of_child`` asks of a parent: whether it is one
#: of the actions whose first child is the path set and the rest are its values.
_ACTIONS = (
    "UpdateExpressionSetAction",
    "UpdateExpressionRemoveAction",
    "UpdateExpressionDeleteAction",
    "UpdateExpressionAddAction",
)


def _resolving_hook(validators: Any) -> tuple[Any, tuple[type, ...]] | None:
    """moto's resolving pass's hook before each child, and the actions it asks about, when it
    is as known (it only sets ``resolving``: off for an action's first child, on for the
    rest); ``None`` otherwise."""
    processor = getattr(validators, "ExpressionAttributeResolvingProcessor", None)
    hook = vars(processor).get("pre_processing_of_child") if isinstance(processor, type) else None
    code = getattr(hook, "__code__", None)
    actions: tuple[Any, ...] = tuple(getattr(validators, name, None) for name in _ACTIONS)
    if (
        code is None
        or not all(isinstance(action, type) for action in actions)
        or not {"isinstance", "resolving", *_ACTIONS} <= set(code.co_names)
        or code.co_argcount != 3
    ):
        return None
    return hook, actions


def _walking(
    traverser: type, node_type: type, resolving: tuple[Any, tuple[type, ...]] | None = None
) -> Callable[..., Any]:
    original = traverser.traverse_node_recursively  # type: ignore[attr-defined]
    no_hook = traverser.pre_processing_of_child  # type: ignore[attr-defined]
    # isinstance on an abc class asks the abc machinery each time; its answer for a type does
    # not change (moto registers no virtual subclasses of its nodes): kept per type.
    is_node: dict[type, bool] = {}
    # The same for the actions the resolving pass's hook asks about.
    is_action: dict[type, bool] = {}
    # Per kinds of a pass: a node type -> where in the kinds it is first matched (-1: none).
    of_kinds: dict[Any, dict[type, int]] = {}

    def walk(
        self: Any, node: Any, child_id: int, kinds: Any, at_kind: Any, hook: Any, steps: Any
    ) -> Any:
        parent_node = node.parent
        children = node.children
        if children is not None:
            for i, child_node in enumerate(children):
                if hook is not None:
                    hook(node, i)
                cls = type(child_node)
                found = is_node.get(cls)
                if found is None:
                    found = is_node[cls] = issubclass(cls, node_type)
                if found:
                    walk(self, child_node, i, kinds, at_kind, hook, steps)
        cls = type(node)
        at = at_kind.get(cls)
        if at is None:
            at = at_kind[cls] = next((k for k, c in enumerate(kinds) if issubclass(cls, c)), -1)
        if at >= 0:
            # moto's process(): the processor of the first kind the node is of, its map
            # taken once a pass rather than made again for every node
            node = self.process(node) if steps is None else steps[at](node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node

    @functools.wraps(original)
    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        if not isinstance(node, node_type):
            return node
        kinds = self.nodes_to_be_processed()  # constant a pass: a literal map in every one
        steps = None
        making = getattr(self, "_processing_map", None)
        if callable(making):
            processing = making()
            if isinstance(processing, dict) and tuple(processing) == kinds:
                steps = tuple(processing.values())
        at_kind = of_kinds.get(kinds)
        if at_kind is None:
            at_kind = of_kinds[kinds] = {}
        hook = self.pre_processing_of_child
        func = getattr(hook, "__func__", None)
        if func is no_hook:
            hook = None  # moto's default: does nothing
        elif resolving is not None and func is resolving[0]:
            hook = _resolving(self, resolving[1], is_action)
        return walk(self, node, child_id, kinds, at_kind, hook, steps)

    return traverse_node_recursively


def _resolving(processor: Any, actions: tuple[type, ...], is_action: dict[type, bool]) -> Any:
    """moto's resolving pass's hook before each child, for ``processor``: the parent's kind
    asked once a type (moto asked isinstance of four abc classes for every child)."""

    def hook(parent_node: Any, child_id: int) -> None:
        cls = type(parent_node)
        found = is_action.get(cls)
        if found is None:
            found = is_action[cls] = issubclass(cls, actions)
        if found:
            processor.resolving = child_id != 0

    return hook


# -- a reserved word: looked up in a set -------------------------------------------------------


class _Keywords(list[str]):
    """moto's list of DynamoDB's reserved words, and a set of them that ``in`` asks: moto
    checks every plain attribute name of an expression against the list (573 words, ~4 us a
    name, ~40 names a ledger hop), each time it resolves a path. A text is in the set exactly
    when it is in the list; anything else is asked of the list."""

    def __init__(self, words: list[str]) -> None:
        super().__init__(words)
        self._set = frozenset(words)

    def __contains__(self, word: object) -> bool:
        if type(word) is str:
            return word in self._set
        return list.__contains__(self, word)


def _looking_keywords_up(module: Any) -> bool:
    """Have moto's ``ReservedKeywords`` keep its words as :class:`_Keywords`; False, and
    nothing changed, where it does not keep a list of texts as known."""
    keywords: Any = getattr(module, "ReservedKeywords", None)
    get = getattr(keywords, "get_reserved_keywords", None)
    if not callable(get) or not hasattr(keywords, "KEYWORDS"):
        return False
    words = get()
    if type(words) is _Keywords:
        return True
    if type(words) is not list or not all(type(word) is str for word in words):
        return False
    keywords.KEYWORDS = _Keywords(words)
    return get() is keywords.KEYWORDS


# -- an attribute set: the item's size bounded before it is counted -----------------------------

#: moto's item size limit (bytes), as its ``LimitedSizeDict.__setitem__`` has it.
_ITEM_LIMIT = 405000


def _sizes_as_known(dynamo_type: Any) -> bool:
    """Whether moto's item dict checks its size as known: every set sums the sizes of all
    its keys and values and the new ones, and refuses past :data:`_ITEM_LIMIT`."""
    sized = getattr(dynamo_type, "LimitedSizeDict", None)
    setitem = vars(sized).get("__setitem__") if isinstance(sized, type) else None
    code = getattr(setitem, "__code__", None)
    return (
        code is not None
        and _ITEM_LIMIT in code.co_consts
        and "ItemSizeTooLarge" in code.co_names
        and isinstance(getattr(dynamo_type, "DynamoType", None), type)
    )


def _bounding_sizes(dynamo_type: Any, setitem: Callable[..., None]) -> Callable[..., None]:
    """``LimitedSizeDict.__setitem__``, but when the item is plainly under the limit it is set
    without counting. moto sums the exact size of every key and value at every set (an update
    of 10 attributes of a 20-attribute item: ~200 sizes). A bound is cheaper: a text's UTF-8
    is at most 4 bytes a character (a number is its text; a binary value its bytes; a boolean
    or null 1). A key or value of any other kind (a map, a list, a set), or a bound past the
    limit, is counted by moto as before -- so a set refused by moto is refused here too."""
    dynamo = dynamo_type.DynamoType

    def bound(key: Any, value: Any) -> int:
        """A bound of a key's and its value's size; -1 when none is known cheaply."""
        if type(key) is not str or type(value) is not dynamo:
            return -1
        held = value.value
        kind = type(held)
        if kind is str:
            return 4 * (len(key) + len(held))
        if kind is bytes:
            return 4 * len(key) + len(held)
        if kind is bool:
            return 4 * len(key) + 1
        return -1

    @functools.wraps(setitem)
    def __setitem__(self: Any, key: str, value: Any) -> None:
        total = bound(key, value)
        if total >= 0:
            for old_key, old_value in dict.items(self):
                found = bound(old_key, old_value)
                if found < 0:
                    break
                total += found
            else:
                if total <= _ITEM_LIMIT:
                    dict.__setitem__(self, key, value)
                    return
        setitem(self, key, value)

    return __setitem__
