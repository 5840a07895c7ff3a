"""The inventory model read as a tree of FHIR Questionnaire items (generated, never hand-kept).

Every pydantic field of :class:`~ipt_formulate.inventory.Inventory` becomes one item whose
``linkId`` is its JSON path without list indices (``persons.role``): nested models are groups,
tuples of models are repeating groups, ``Literal`` vocabularies are choice questions answered
from a value set, tuples of scalars are repeating questions. The discriminated union of
measures is one repeating group holding every instrument's fields (``enableWhen`` shows each
field only for the instruments that have it).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, StringConstraints

from .. import inventory as inv_mod
from ..inventory import Inventory, PartialDate

__all__ = ["BASE_URL", "SKIPPED_FIELDS", "Node", "Vocabulary", "spec_tree"]

BASE_URL = "https://ipt-formulate.org/fhir"
"""Base of the canonical URLs (identifiers: they need not resolve)."""

SKIPPED_FIELDS = frozenset({"schema_version"})
"""Inventory fields with one possible value: fixed by the Questionnaire's version instead."""

FhirType = Literal["group", "boolean", "integer", "decimal", "date", "string", "text", "choice"]


@dataclass(frozen=True)
class Vocabulary:
    """A closed list of codes (a ``Literal`` of the inventory) as a FHIR value set."""

    name: str  # the id: "role", "contact-frequency"
    codes: tuple[str, ...]

    @property
    def system(self) -> str:
        return f"{BASE_URL}/CodeSystem/{self.name}"

    @property
    def value_set(self) -> str:
        return f"{BASE_URL}/ValueSet/{self.name}"


@dataclass
class Node:
    """One Questionnaire item: a group or a question, keyed by its inventory field."""

    key: str
    link_id: str
    text: str
    type: FhirType
    repeats: bool = False
    required: bool = False
    vocabulary: Vocabulary | None = None
    max_length: int | None = None
    min_value: float | None = None
    max_value: float | None = None
    optional_group: bool = False  # a model field whose default is None (present-but-empty)
    enable_when: tuple[tuple[str, str, str], ...] = ()  # (question linkId, system, code)
    children: dict[str, Node] = field(default_factory=dict)


def _kebab(name: str) -> str:
    out = "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")
    return out.replace("_", "-")


@lru_cache(maxsize=1)
def _named_vocabularies() -> dict[frozenset[str], str]:
    named: dict[frozenset[str], str] = {}
    for name in inv_mod.__all__:
        obj = getattr(inv_mod, name)
        if get_origin(obj) is Literal:
            named[frozenset(get_args(obj))] = _kebab(name)
    return named


def _strip(tp: Any) -> tuple[Any, list[Any], bool]:
    """(inner type, Annotated metadata, optional) of a field annotation."""
    meta: list[Any] = []
    optional = False
    while True:
        origin = get_origin(tp)
        if origin is typing.Annotated:
            args = get_args(tp)
            tp = args[0]
            meta.extend(args[1:])
        elif origin in (Union, types.UnionType):
            args = tuple(a for a in get_args(tp) if a is not type(None))
            if len(args) < len(get_args(tp)):
                optional = True
            if len(args) == 1:
                tp = args[0]
                continue
            return tp, meta, optional
        else:
            return tp, meta, optional


def _bounds(meta: list[Any]) -> tuple[float | None, float | None, int | None]:
    lo: float | None = None
    hi: float | None = None
    max_len = None
    stack = list(meta)
    while stack:
        m = stack.pop()
        if isinstance(m, annotated_types.Ge):
            lo = float(m.ge)  # type: ignore[arg-type]
        elif isinstance(m, annotated_types.Le):
            hi = float(m.le)  # type: ignore[arg-type]
        elif isinstance(m, StringConstraints) and m.max_length is not None:
            max_len = m.max_length
        elif hasattr(m, "metadata") and isinstance(m.metadata, list):
            stack.extend(m.metadata)
    return lo, hi, max_len


def _human(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _node(key: str, link_id: str, annotation: Any, required: bool, description: str | None) -> Node:
    tp, meta, optional = _strip(annotation)
    repeats = False
    if get_origin(tp) is tuple:
        repeats = True
        tp, more, _ = _strip(get_args(tp)[0])
        meta = meta + more
    text = description or _human(key)
    if get_origin(tp) in (Union, types.UnionType) and all(_is_model(a) for a in get_args(tp)):
        node = Node(key, link_id, text, "group", repeats=repeats, required=required)
        _union_children(node, get_args(tp))
        return node
    if _is_model(tp):
        node = Node(key, link_id, text, "group", repeats=repeats, required=required)
        node.optional_group = optional
        _model_children(node, tp)
        return node
    lo, hi, max_len = _bounds(meta)
    if get_origin(tp) is Literal:
        codes = tuple(str(a) for a in get_args(tp))
        name = _named_vocabularies().get(frozenset(codes), _kebab(key))
        return Node(
            key, link_id, text, "choice", repeats, required, vocabulary=Vocabulary(name, codes)
        )
    if annotation == PartialDate or PartialDate in get_args(annotation) or tp is date:
        return Node(key, link_id, text, "date", repeats, required)
    kinds: dict[Any, FhirType] = {bool: "boolean", int: "integer", float: "decimal", str: "string"}
    kind = kinds[tp]
    return Node(
        key,
        link_id,
        text,
        kind,
        repeats,
        required,
        max_length=max_len,
        min_value=lo if kind in ("integer", "decimal") else None,
        max_value=hi if kind in ("integer", "decimal") else None,
    )


def _model_children(node: Node, model: type[BaseModel]) -> None:
    for key, info in model.model_fields.items():
        if key in SKIPPED_FIELDS:
            continue
        link = f"{node.link_id}.{key}" if node.link_id else key
        node.children[key] = _node(key, link, info.annotation, info.is_required(), info.description)


def _union_children(node: Node, models: tuple[type[BaseModel], ...]) -> None:
    """One group for a discriminated union: the tag as a choice, every variant's fields."""
    tags = {m: get_args(m.model_fields["instrument"].annotation)[0] for m in models}
    vocab = Vocabulary("instrument", tuple(tags.values()))
    tag_link = f"{node.link_id}.instrument"
    node.children["instrument"] = Node(
        "instrument", tag_link, "Instrument", "choice", required=True, vocabulary=vocab
    )
    owners: dict[str, list[type[BaseModel]]] = {}
    for m in models:
        for key in m.model_fields:
            if key != "instrument":
                owners.setdefault(key, []).append(m)
    for key, ms in owners.items():
        infos = [m.model_fields[key] for m in ms]
        variants = [_node(key, f"{node.link_id}.{key}", i.annotation, False, None) for i in infos]
        first = variants[0]
        if any(v.type != first.type for v in variants):
            raise TypeError(f"{node.link_id}.{key}: variants disagree on the type")
        if any((v.min_value, v.max_value) != (first.min_value, first.max_value) for v in variants):
            first.min_value = first.max_value = None  # the inventory checks per instrument
        if len(ms) < len(models):
            first.enable_when = tuple((tag_link, vocab.system, tags[m]) for m in ms)
        node.children[key] = first


@lru_cache(maxsize=1)
def spec_tree() -> Node:
    """The root group (the inventory) with every item below it."""
    root = Node("", "", "Interpersonal inventory", "group")
    _model_children(root, Inventory)
    return root


def walk(node: Node) -> typing.Iterator[Node]:
    """Every node below ``node``, depth first, in field order."""
    for child in node.children.values():
        yield child
        yield from walk(child)
