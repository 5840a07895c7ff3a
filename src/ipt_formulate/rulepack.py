"""Stage 4: rule packs — declarative rule data, loaded and validated, never executed.

A pack is a directory with a manifest ``pack.toml`` and rule files ``*.toml`` (see
``docs/rule-authoring.md``). Loading parses TOML (no code execution), validates every rule
against pydantic models and against the fact vocabulary of :mod:`ipt_formulate.facts`, resolves
``extends``, and stratifies chained findings. Any problem raises a
:class:`~ipt_formulate.errors.RulePackError` naming the file, line, rule id and key.

The result, :class:`RulePack`, is immutable: its rules are inspectable data
(:class:`Rule` → :class:`Pattern` → :class:`Condition`) that every backend, WHY-NOT and the
rule examples evaluate the same way.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from .errors import (
    OptionError,
    RulePackError,
    RulePackReferenceError,
    RulePackSchemaError,
    RulePackSyntaxError,
)
from .facts import FACT_TYPES, graph_features_for

__all__ = [
    "MAX_EXTENDS_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_PATTERNS_PER_RULE",
    "RESERVED_BINDINGS",
    "AreaSpec",
    "Condition",
    "Pattern",
    "Rule",
    "RulePack",
    "bundled_pack_path",
    "bundled_packs",
    "default_pack",
    "load_pack",
    "rulepack_json_schema",
]

Scalar = str | int | float | bool
Op = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in", "contains", "known", "unknown"]
_ORDERED_OPS = {"<", "<=", ">", ">="}
_RULE_ID = r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$"
_NAME = r"^[a-z][a-z0-9_]*$"
RuleId = Annotated[str, StringConstraints(pattern=_RULE_ID)]
Name = Annotated[str, StringConstraints(pattern=_NAME)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------ file format (pydantic)
class SourceSpec(_Strict):
    """A citable source, referenced by key from rules."""

    text: str = Field(min_length=5, description="Full reference.")
    url: str | None = None
    quality: str | None = Field(default=None, description="manual/author, peer-reviewed, ...")


class CitationSpec(_Strict):
    source: str = Field(description="Key into the pack's [sources].")
    locator: str | None = Field(default=None, description="Chapter, page or section.")
    note: str | None = None


class PatternSpec(_Strict):
    """One fact pattern: ``exists = false`` means "no such fact"."""

    fact: Literal["patient", "person", "event", "link", "finding"]
    bind: Name | None = None
    exists: bool = True
    where: tuple[tuple[str, Op] | tuple[str, Op, Scalar | tuple[Scalar, ...]], ...] = ()


class AssertSpec(_Strict):
    finding: Name
    focus: Name | None = Field(default=None, description="Bound variable the finding is about.")
    label: str | None = Field(
        default=None,
        min_length=3,
        max_length=120,
        description="What the finding means, in words a clinician reads in reports "
        "(the name is shown where no rule gives a label).",
    )


class AdvisorySpec(_Strict):
    kind: Literal["safety", "clinical", "data"]
    level: Literal["urgent", "caution", "info"]


class ExampleSpec(_Strict):
    """A small set of facts on which the rule must (or must not) fire."""

    name: str
    fires: bool
    facts: tuple[dict[str, Any], ...]
    options: dict[str, Scalar] = {}


class RuleSpec(_Strict):
    id: RuleId
    version: int = Field(ge=1)
    status: Literal["active", "draft", "retired"] = "active"
    title: str = Field(min_length=3)
    area: Name | None = None
    weight: float | None = Field(default=None, ge=-0.99, le=0.99)
    focus: Name | None = Field(
        default=None, description="Bound person/event variable, or 'network'."
    )
    asserts: AssertSpec | None = None
    advisory: AdvisorySpec | None = None
    enabled_when: dict[str, Scalar] = {}
    when: tuple[PatternSpec, ...] = Field(min_length=1)
    explain: str = Field(min_length=3)
    cite: tuple[CitationSpec, ...] = Field(min_length=1)
    examples: tuple[ExampleSpec, ...] = ()


class RuleFileSpec(_Strict):
    rule: tuple[RuleSpec, ...] = ()


class AreaSpec(_Strict):
    id: Name
    label: str
    focus_kind: Literal["person", "event", "network"]
    description: str = ""


class OptionSpec(_Strict):
    default: Scalar
    description: str
    choices: tuple[Scalar, ...] | None = None
    source: str | None = None
    min: float | None = Field(default=None, description="Lowest value (numeric options).")
    max: float | None = Field(default=None, description="Highest value (numeric options).")


class ThresholdSpec(_Strict):
    primary_min: float = Field(default=0.3, gt=0, lt=1)
    secondary_min: float = Field(default=0.4, gt=0, lt=1)
    secondary_max_gap: float = Field(
        default=0.3, ge=0, le=1, description="Secondary must score within this of the primary."
    )


class PackInfo(_Strict):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    version: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")]
    description: str
    extends: tuple[str, ...] = ()


class ManifestSpec(_Strict):
    pack: PackInfo
    area: tuple[AreaSpec, ...] = ()
    thresholds: dict[str, float] = {}
    options: dict[Name, OptionSpec] = {}
    sources: dict[str, SourceSpec] = {}


def rulepack_json_schema() -> dict[str, Any]:
    """JSON Schema of the two file kinds of a pack: the manifest and a rule file."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ipt-formulate rule pack",
        "manifest": ManifestSpec.model_json_schema(),
        "rule_file": RuleFileSpec.model_json_schema(),
    }


# ------------------------------------------------------------------ resolved rules (dataclasses)
@dataclass(frozen=True)
class Condition:
    """``field op value``; ``ref`` compares with a field of an earlier bound variable."""

    field: str
    op: str
    value: Any = None
    ref: tuple[str, str] | None = None

    @cached_property
    def text(self) -> str:  # cached: WHY-NOT texts name conditions on every formulation
        if self.op in {"known", "unknown"}:
            return f"{self.field} is {self.op}"
        rhs = f"{self.ref[0]}.{self.ref[1]}" if self.ref else json.dumps(self.value)
        return f"{self.field} {self.op} {rhs}"


@dataclass(frozen=True)
class Pattern:
    var: str
    fact: str
    exists: bool
    conditions: tuple[Condition, ...]

    @cached_property
    def text(self) -> str:
        conds = " and ".join(c.text for c in self.conditions) or "any"
        return f"{'' if self.exists else 'no '}{self.fact} {self.var} where {conds}"


@dataclass(frozen=True)
class Rule:
    """A validated rule with options resolved: what every backend evaluates."""

    id: str
    version: int
    status: str
    title: str
    area: str | None
    weight: float | None
    focus: str | None
    asserts: AssertSpec | None
    advisory: AdvisorySpec | None
    patterns: tuple[Pattern, ...]
    explain: str
    cite: tuple[CitationSpec, ...]
    examples: tuple[ExampleSpec, ...]
    enabled: bool
    disabled_by: tuple[tuple[str, Scalar], ...]
    options_used: tuple[str, ...]
    stratum: int
    file: str
    line: int

    @property
    def reads_findings(self) -> tuple[tuple[str, bool], ...]:
        """``(finding name, positively?)`` for each finding pattern."""
        return tuple(
            (_finding_name(p) or "", p.exists) for p in self.patterns if p.fact == "finding"
        )

    def focus_kind(self) -> str | None:
        if self.focus is None:
            return None
        if self.focus == "network":
            return "network"
        for p in self.patterns:
            if p.var == self.focus:
                return p.fact
        return None


def _finding_name(p: Pattern) -> str | None:
    for c in p.conditions:
        if c.field == "name" and c.op == "==" and c.ref is None:
            return str(c.value)
    return None


@dataclass(frozen=True)
class RulePack:
    """A loaded, validated and resolved rule pack. Immutable; hashable by content."""

    name: str
    version: str
    description: str
    areas: tuple[AreaSpec, ...]
    thresholds: ThresholdSpec
    option_specs: Mapping[str, OptionSpec]
    options: Mapping[str, Scalar]
    sources: Mapping[str, SourceSpec]
    rules: tuple[Rule, ...]
    root: str
    lineage: tuple[str, ...] = ()
    _specs: tuple[RuleSpec, ...] = field(default=(), repr=False, compare=False)
    disabled_rules: tuple[str, ...] = ()
    """Rules switched off by :meth:`with_rules` (not by an option): what-if variants."""

    def __repr__(self) -> str:
        """Short: name, version, hash prefix and rule count (the full content is >100 KB)."""
        return (
            f"RulePack(name={self.name!r}, version={self.version!r}, "
            f"hash={self.hash[:19]!r}, rules={len(self.rules)})"
        )

    @cached_property
    def hash(self) -> str:
        """sha256 of the canonical resolved content (rules, areas, options, thresholds)."""
        payload = {
            "name": self.name,
            "version": self.version,
            "areas": [a.model_dump() for a in self.areas],
            "thresholds": self.thresholds.model_dump(),
            "options": dict(sorted(self.options.items())),
            "sources": {k: v.model_dump() for k, v in sorted(self.sources.items())},
            "rules": [s.model_dump(mode="json") for s in sorted(self._specs, key=lambda s: s.id)],
        }
        if self.disabled_rules:  # absent otherwise: the hash of a loaded pack is unchanged
            payload["disabled_rules"] = list(self.disabled_rules)
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()

    @cached_property
    def active_rules(self) -> tuple[Rule, ...]:
        """Rules that run: status active and enabled by the current options."""
        return tuple(r for r in self.rules if r.status == "active" and r.enabled)

    @cached_property
    def _by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    def rule(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    @cached_property
    def finding_labels(self) -> Mapping[str, str]:
        """Finding name -> human label, from the rules' ``asserts.label`` (the first rule by
        id that labels a finding wins), sorted by name."""
        labels: dict[str, str] = {}
        for r in sorted(self.rules, key=lambda r: r.id):
            if r.asserts is not None and r.asserts.label is not None:
                labels.setdefault(r.asserts.finding, r.asserts.label)
        return dict(sorted(labels.items()))

    def area(self, area_id: str) -> AreaSpec:
        for a in self.areas:
            if a.id == area_id:
                return a
        raise KeyError(area_id)

    def with_options(self, **options: Scalar) -> RulePack:
        """A copy of the pack with some options changed (validated; changes the hash)."""
        merged = dict(self.options)
        for k, v in options.items():
            merged[k] = _check_option(self.option_specs, k, v)
        return self._variant(merged, self._specs, self.disabled_rules)

    def _variant(
        self, options: Mapping[str, Scalar], specs: Iterable[RuleSpec], disabled: tuple[str, ...]
    ) -> RulePack:
        """This pack resolved again with other options, rule specs or switched-off rules."""
        return _resolve(
            name=self.name,
            version=self.version,
            description=self.description,
            areas=self.areas,
            thresholds=self.thresholds,
            option_specs=self.option_specs,
            options=options,
            sources=self.sources,
            specs=[(s, self.rule(s.id).file, self.rule(s.id).line) for s in specs],
            root=self.root,
            lineage=self.lineage,
            disabled_rules=disabled,
        )

    def with_rules(
        self, *, weights: Mapping[str, float] | None = None, disabled: Iterable[str] = ()
    ) -> RulePack:
        """A copy of the pack with some rule weights changed and some rules switched off,
        built from the validated rule specs (no file is read again; changes the hash). For
        what-if audits: leave-one-rule-out, weight sweeps, fitted weights.

        A switched-off rule stays in the pack, never fires, and counts as disabled in WHY-NOT
        (like a rule an option disables), so rules reading its finding still load. An unknown
        rule id or a bad weight (outside [-0.99, 0.99], zero, or on a rule without an area) is
        an :class:`OptionError` naming the rule."""
        weights = dict(weights or {})
        off = set(disabled) | set(self.disabled_rules)
        for rid in sorted(off | set(weights)):
            if rid not in self._by_id:
                raise OptionError(f"no rule {rid!r} in pack {self.name}", code="options.rule")
        specs = [_reweighted(s, weights[s.id]) if s.id in weights else s for s in self._specs]
        return self._variant(self.options, specs, tuple(sorted(off)))

    def fact_types_used(self) -> frozenset[str]:
        """Fact types the active rules match (plus findings)."""
        return self._usage[0]

    def fields_used(self, fact_type: str) -> frozenset[str]:
        """Fact fields the active rules read: in conditions, joins and explanations."""
        return self._usage[1].get(fact_type, self._usage[2])

    def graph_features_used(self) -> frozenset[str]:
        """Graph features needed for the patient and person fields the active rules read."""
        return self._graph_features

    @cached_property
    def _graph_features(self) -> frozenset[str]:
        # computed once per pack: formulate() asks on every call
        return graph_features_for(self.fields_used("patient") | self.fields_used("person"))

    @cached_property
    def _usage(self) -> tuple[frozenset[str], dict[str, frozenset[str]], frozenset[str]]:
        # computed once per pack: formulate() asks on every call
        types = frozenset(p.fact for r in self.active_rules for p in r.patterns) | {"finding"}
        common: set[str] = set()
        per_type: dict[str, set[str]] = {t: set() for t in types}
        for r in self.active_rules:
            for p in r.patterns:
                per_type[p.fact].update(c.field for c in p.conditions)
                common.update(c.ref[1] for c in p.conditions if c.ref is not None)
            common.update(_placeholders_fields(r.explain))
        per = {t: frozenset(f | common) for t, f in per_type.items()}
        return types, per, frozenset(common)


def _placeholders_fields(template: str) -> set[str]:
    return {m.group(2) for m in _PLACEHOLDER.finditer(template)}


_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\}")


# ------------------------------------------------------------------ loading
def _check_option(specs: Mapping[str, OptionSpec], key: str, value: Any) -> Scalar:
    if key not in specs:
        raise OptionError(
            f"unknown option {key!r}; this pack's options are: {', '.join(sorted(specs)) or '-'}",
            code="options.unknown",
        )
    spec = specs[key]
    dtype = type(spec.default)
    ok = isinstance(value, dtype) or (
        dtype is float and isinstance(value, int) and not isinstance(value, bool)
    )
    if not ok or (dtype is int and isinstance(value, bool)):
        raise OptionError(
            f"option {key!r} takes a {dtype.__name__}, got {value!r}", code="options.type"
        )
    if spec.choices is not None and value not in spec.choices:
        raise OptionError(
            f"option {key!r} must be one of {list(spec.choices)}, got {value!r}",
            code="options.choice",
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise OptionError(
                f"option {key!r} must be a finite number, got {value!r}", code="options.range"
            )
        if (spec.min is not None and value < spec.min) or (
            spec.max is not None and value > spec.max
        ):
            lo = "-inf" if spec.min is None else f"{spec.min:g}"
            hi = "inf" if spec.max is None else f"{spec.max:g}"
            bounds = f"{lo}..{hi}"
            raise OptionError(
                f"option {key!r} must be within {bounds}, got {value!r}", code="options.range"
            )
    elif spec.min is not None or spec.max is not None:
        raise OptionError(f"option {key!r}: min and max apply to numbers only", code="options.type")
    return value  # type: ignore[no-any-return]


MAX_FILE_BYTES = 1_000_000
"""Largest manifest or rule file the loader reads (bytes)."""
MAX_EXTENDS_DEPTH = 32
"""Longest chain of ``extends`` (a pack extending a pack extending ...)."""
MAX_PATTERNS_PER_RULE = 32
"""Most patterns (``[[rule.when]]``) in one rule: every engine handles this many."""
RESERVED_BINDINGS = frozenset({"network", "engine", "self"})
"""Variable names a pattern may not bind (``network`` is a focus; the others clash with the
parameters experta passes to a rule's action)."""


def _read_bounded(path: Path, display: str) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_FILE_BYTES` (never blocks: a FIFO,
    a device or a symlink to one is refused before any read)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise RulePackError(f"cannot read: {why}", file=display, code="rulepack.io") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RulePackError(
                "not a regular file (a FIFO, device or directory cannot be a rule file)",
                file=display,
                code="rulepack.io",
            )
        if st.st_size > MAX_FILE_BYTES:
            raise RulePackError(
                f"file too large: {st.st_size:,} bytes, over the limit of {MAX_FILE_BYTES:,}",
                file=display,
                code="rulepack.too_large",
            )
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise RulePackError(
            f"cannot read: {exc.strerror}", file=display, code="rulepack.io"
        ) from None
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE_BYTES:  # grew while being read
        raise RulePackError(
            f"file too large: over the limit of {MAX_FILE_BYTES:,} bytes",
            file=display,
            code="rulepack.too_large",
        )
    return raw


def _read_toml(path: Path, display: str) -> tuple[dict[str, Any], str]:
    raw = _read_bounded(path, display)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RulePackSyntaxError(
            f"not UTF-8 text: byte {raw[exc.start]:#04x} cannot be decoded", file=display, line=line
        ) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise RulePackSyntaxError(
            f"not valid TOML: {exc}", file=display, line=int(m[1]) if m else None
        ) from None
    except RecursionError:
        raise RulePackSyntaxError(
            "not usable TOML: values are nested too deeply", file=display
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        m = re.search(r"\d{4301}", text)
        at = text.count("\n", 0, m.start()) + 1 if m else None
        raise RulePackSyntaxError(f"not usable TOML: {exc}", file=display, line=at) from None


def _rule_header_lines(text: str) -> list[int]:
    return [i + 1 for i, ln in enumerate(text.splitlines()) if ln.strip() == "[[rule]]"]


def _key_line(text: str, start: int, key: str | None) -> int:
    if key is None:
        return start
    lines = text.splitlines()
    pat = re.compile(rf"^\s*(\[+\s*rule\.)?{re.escape(key)}\b")
    for i in range(start - 1, len(lines)):
        if i > start - 1 and lines[i].strip() == "[[rule]]":
            break
        if pat.search(lines[i]):
            return i + 1
    return start


def _loc_key(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(x) for x in loc)


def _first_str_key(loc: tuple[int | str, ...]) -> str | None:
    keys = [x for x in loc if isinstance(x, str) and not x.startswith(("tuple", "list"))]
    return keys[0] if keys else None


_RULE_ADAPTER = TypeAdapter(RuleSpec)


def _parse_rule_file(path: Path, rel: str) -> list[tuple[RuleSpec, str, int]]:
    data, text = _read_toml(path, rel)
    extra = sorted(set(data) - {"rule"})
    if extra:
        raise RulePackSchemaError(
            f"unknown top-level key(s) {extra}; a rule file holds only [[rule]] tables",
            file=rel,
            line=_key_line(text, 1, extra[0]),
            key=extra[0],
        )
    raw = data.get("rule", [])
    if not isinstance(raw, list):
        raise RulePackSchemaError(
            "'rule' must be an array of tables ([[rule]])", file=rel, key="rule"
        )
    headers = _rule_header_lines(text)
    out = []
    for i, item in enumerate(raw):
        line = headers[i] if i < len(headers) else 1
        rid = item.get("id") if isinstance(item, dict) else None
        try:
            spec = _RULE_ADAPTER.validate_python(item)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            loc = tuple(err["loc"])
            key = _first_str_key(loc)
            raise RulePackSchemaError(
                f"{_loc_key(loc) or 'rule'}: {err['msg']}",
                file=rel,
                line=_key_line(text, line, key),
                rule_id=rid,
                key=_loc_key(loc),
            ) from None
        out.append((spec, rel, line))
    return out


@dataclass
class _Tree:
    """One loaded pack directory: its manifest, its rules (parents' first) and its parents."""

    manifest: ManifestSpec
    specs: list[tuple[RuleSpec, str, int]]
    parents: list[ManifestSpec]


_BUNDLED_NAMES = ("ipt-core", "ipsrt")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _real(path: Path) -> Path:
    # os.path.realpath never raises on a symlink loop (Path.resolve raises RuntimeError)
    return Path(os.path.realpath(path))


class _Loader:
    """Loads a pack and its ``extends`` once each (memoised), depth-limited and confined."""

    def __init__(self, root: Path, allow_outside: bool) -> None:
        self.allowed: tuple[Path, ...] | None = None
        if not allow_outside:
            self.allowed = (root, _real(bundled_pack_path("ipt-core")).parent)
        self.memo: dict[Path, _Tree] = {}

    def target(self, root: Path, ext: str, text: str) -> Path:
        """The directory an ``extends`` entry names, checked."""
        file, line = str(root / "pack.toml"), _key_line(text, 1, "extends")
        if _CONTROL.search(ext) or not ext.strip():
            raise RulePackReferenceError(
                f"'extends' entry {ext[:80]!r} is not a usable directory name",
                key="pack.extends",
                file=file,
                line=line,
            )
        if ext in _BUNDLED_NAMES:
            return _real(bundled_pack_path(ext))
        path = _real(root / ext)
        if self.allowed is not None and not any(path.is_relative_to(a) for a in self.allowed):
            raise RulePackReferenceError(
                f"'extends' entry {ext[:80]!r} points outside the pack's folder "
                f"({path}); extend a bundled pack by name ({', '.join(_BUNDLED_NAMES)}), "
                "move the parent pack into this pack's folder, or load with "
                "load_pack(path, allow_outside=True)",
                key="pack.extends",
                file=file,
                line=line,
            )
        return path

    def load(self, root: Path, chain: tuple[Path, ...]) -> _Tree:
        done = self.memo.get(root)
        if done is not None:  # a diamond: each pack is loaded once per load_pack
            return done
        manifest, text = self._manifest(root, chain)
        parents: list[ManifestSpec] = []
        specs: list[tuple[RuleSpec, str, int]] = []
        for ext in manifest.pack.extends:
            parent = self.load(self.target(root, ext, text), (*chain, root))
            for m in [*parent.parents, parent.manifest]:
                if all(m.pack.name != q.pack.name for q in parents):
                    parents.append(m)
            have = {s.id for s, _, _ in specs}
            name = parent.manifest.pack.name
            specs.extend((s, f"{name}/{f}", ln) for s, f, ln in parent.specs if s.id not in have)
        own = _own_rules(root)
        # a child's rule replaces the parent's rule of the same id
        ids = {s.id for s, _, _ in own}
        tree = _Tree(manifest, [t for t in specs if t[0].id not in ids] + own, parents)
        self.memo[root] = tree
        return tree

    def _manifest(self, root: Path, chain: tuple[Path, ...]) -> tuple[ManifestSpec, str]:
        display = str(root / "pack.toml") if chain else "pack.toml"
        if root in chain:
            names = " -> ".join(str(p) for p in (*chain, root))
            raise RulePackReferenceError(
                f"'extends' forms a cycle: {names}", file=display, key="pack.extends"
            )
        if len(chain) >= MAX_EXTENDS_DEPTH:
            raise RulePackReferenceError(
                f"'extends' chain deeper than {MAX_EXTENDS_DEPTH} packs (from {chain[0]})",
                file=str(chain[-1] / "pack.toml"),
                key="pack.extends",
            )
        if not (root / "pack.toml").is_file():
            raise RulePackError(
                "no pack.toml manifest in this directory (a bundled pack is loaded by name: "
                f"{', '.join(_BUNDLED_NAMES)})",
                file=str(root),
                code="rulepack.no_manifest",
            )
        data, text = _read_toml(root / "pack.toml", display)
        try:
            return ManifestSpec.model_validate(data), text
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            loc = tuple(err["loc"])
            raise RulePackSchemaError(
                f"{_loc_key(loc)}: {err['msg']}",
                file=display,
                line=_key_line(text, 1, str(loc[-1]) if loc else None),
                key=_loc_key(loc),
            ) from None


def _own_rules(root: Path) -> list[tuple[RuleSpec, str, int]]:
    own: list[tuple[RuleSpec, str, int]] = []
    for path in sorted(root.glob("*.toml")):
        if path.name != "pack.toml":
            own.extend(_parse_rule_file(path, path.name))
    ids: dict[str, str] = {}
    for s, f, _ in own:
        if s.id in ids:
            raise RulePackSchemaError(
                f"duplicate rule id (also in {ids[s.id]})", file=f, rule_id=s.id, key="id"
            )
        ids[s.id] = f
    return own


def load_pack(path: str | Path, *, allow_outside: bool = False, **options: Scalar) -> RulePack:
    """Load, validate and resolve a bundled pack by name, or the rule pack in directory ``path``.

    A string naming a bundled pack (``"ipt-core"``, ``"ipsrt"``, see ``bundled_packs()``) loads
    the pack shipped with the library, from any working directory; anything else is a directory
    (``"./ipsrt"`` or a ``Path`` for a local folder of that name).
    Keyword arguments override the pack's options (e.g. ``grief_scope="broad_loss"``).
    ``extends`` may name a bundled pack or a directory inside this pack's folder;
    ``allow_outside=True`` lets it name any directory.
    """
    if isinstance(path, str) and path in _BUNDLED_NAMES:
        path = bundled_pack_path(path)
    try:
        root = _real(Path(path))
    except ValueError as exc:  # a NUL byte: no directory has that name
        raise RulePackError(
            f"{str(path)[:80]!r} is not a usable directory name: {exc}", code="rulepack.io"
        ) from None
    tree = _Loader(root, allow_outside).load(root, ())
    manifest, specs, parents = tree.manifest, tree.specs, tree.parents
    chain = [*parents, manifest]
    areas: dict[str, AreaSpec] = {}
    option_specs: dict[str, OptionSpec] = {}
    sources: dict[str, SourceSpec] = {}
    thresholds: dict[str, float] = {}
    for m in chain:
        for a in m.area:
            areas[a.id] = a
        option_specs.update(m.options)
        sources.update(m.sources)
        thresholds.update(m.thresholds)
    try:
        thr = ThresholdSpec.model_validate(thresholds)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise RulePackSchemaError(
            f"thresholds: {err['msg']}",
            file="pack.toml",
            key=f"thresholds.{_loc_key(tuple(err['loc']))}",
        ) from None
    for key, spec in option_specs.items():
        if spec.source is not None and spec.source not in sources:
            raise RulePackReferenceError(
                f"unknown source {spec.source!r}", file="pack.toml", key=f"options.{key}.source"
            )
        try:
            _check_option(option_specs, key, spec.default)
        except OptionError as exc:
            raise RulePackSchemaError(str(exc), file="pack.toml", key=f"options.{key}") from None
    opts = {k: s.default for k, s in option_specs.items()}
    for k, v in options.items():
        opts[k] = _check_option(option_specs, k, v)
    return _resolve(
        name=manifest.pack.name,
        version=manifest.pack.version,
        description=manifest.pack.description,
        areas=tuple(areas.values()),
        thresholds=thr,
        option_specs=option_specs,
        options=opts,
        sources=sources,
        specs=specs,
        root=str(root),
        lineage=tuple(f"{m.pack.name}@{m.pack.version}" for m in chain),
    )


# ------------------------------------------------------------------ resolution and checks
def _resolve(
    *,
    name: str,
    version: str,
    description: str,
    areas: tuple[AreaSpec, ...],
    thresholds: ThresholdSpec,
    option_specs: Mapping[str, OptionSpec],
    options: Mapping[str, Scalar],
    sources: Mapping[str, SourceSpec],
    specs: list[tuple[RuleSpec, str, int]],
    root: str,
    lineage: tuple[str, ...],
    disabled_rules: tuple[str, ...] = (),
) -> RulePack:
    area_ids = {a.id for a in areas}
    rules: list[Rule] = []
    for spec, file, line in specs:
        rule = _build_rule(spec, file, line, area_ids, option_specs, options, sources)
        if spec.id in disabled_rules:
            rule = replace(rule, enabled=False, disabled_by=(*rule.disabled_by, _SWITCHED_OFF))
        rules.append(rule)
    rules = _stratify(rules)
    rules.sort(key=lambda r: r.id)
    return RulePack(
        name=name,
        version=version,
        description=description,
        areas=areas,
        thresholds=thresholds,
        option_specs=dict(option_specs),
        options=dict(sorted(options.items())),
        sources=dict(sources),
        rules=tuple(rules),
        root=root,
        lineage=lineage,
        _specs=tuple(s for s, _, _ in specs),
        disabled_rules=disabled_rules,
    )


_SWITCHED_OFF: tuple[str, Scalar] = ("disabled_rules", "includes this rule")
"""What WHY-NOT names as the cause of a rule switched off by :meth:`RulePack.with_rules`."""


def _reweighted(spec: RuleSpec, weight: float) -> RuleSpec:
    """``spec`` with another weight, validated like a rule file."""
    if spec.area is None:
        raise OptionError(
            f"rule {spec.id!r} gives no evidence (no area): it has no weight to change",
            code="options.rule",
        )
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight == 0:
        raise OptionError(
            f"rule {spec.id!r}: weight must be a non-zero number, got {weight!r}",
            code="options.range",
        )
    try:
        return RuleSpec.model_validate({**spec.model_dump(), "weight": float(weight)})
    except ValidationError as exc:
        raise OptionError(
            f"rule {spec.id!r}: weight {weight!r}: {exc.errors(include_url=False)[0]['msg']}",
            code="options.range",
        ) from None


class _RuleFail:
    """Raises errors naming the rule's file, line, id and a key."""

    def __init__(self, spec: RuleSpec, file: str, line: int) -> None:
        self.spec, self.file, self.line = spec, file, line

    def __call__(
        self, msg: str, key: str, cls: type[RulePackError] = RulePackReferenceError
    ) -> NoReturn:
        raise cls(msg, file=self.file, line=self.line, rule_id=self.spec.id, key=key)


def _build_rule(
    spec: RuleSpec,
    file: str,
    line: int,
    area_ids: set[str],
    option_specs: Mapping[str, OptionSpec],
    options: Mapping[str, Scalar],
    sources: Mapping[str, SourceSpec],
) -> Rule:
    fail = _RuleFail(spec, file, line)
    _check_rule_head(spec, fail, area_ids, sources)
    disabled = _disabled_by(spec, fail, option_specs, options)
    patterns, bound, options_used = _build_patterns(spec, fail, option_specs, options)
    _check_targets(spec, fail, bound)
    return Rule(
        id=spec.id,
        version=spec.version,
        status=spec.status,
        title=spec.title,
        area=spec.area,
        weight=spec.weight,
        focus=spec.focus,
        asserts=spec.asserts,
        advisory=spec.advisory,
        patterns=_with_join_guards(patterns),
        explain=spec.explain,
        cite=spec.cite,
        examples=spec.examples,
        enabled=not disabled,
        disabled_by=tuple(disabled),
        options_used=tuple(sorted(options_used | set(spec.enabled_when))),
        stratum=0,
        file=file,
        line=line,
    )


def _check_rule_head(
    spec: RuleSpec, fail: _RuleFail, area_ids: set[str], sources: Mapping[str, SourceSpec]
) -> None:
    """What a rule gives (area and weight, finding, advisory) and its citations."""
    if spec.area is not None and spec.area not in area_ids:
        fail(f"unknown area {spec.area!r}; declared areas: {sorted(area_ids)}", "area")
    if (spec.area is None) != (spec.weight is None):
        fail("'area' and 'weight' go together", "weight", RulePackSchemaError)
    if spec.weight == 0:
        fail("weight 0 carries no evidence", "weight", RulePackSchemaError)
    if spec.area is not None and spec.focus is None:
        fail(
            "a rule with an area needs a 'focus' (a bound variable or 'network')",
            "focus",
            RulePackSchemaError,
        )
    if spec.area is None and spec.asserts is None and spec.advisory is None:
        fail(
            "a rule must give evidence (area + weight), assert a finding, or raise an advisory",
            "area",
            RulePackSchemaError,
        )
    for i, c in enumerate(spec.cite):
        if c.source not in sources:
            fail(
                f"unknown source {c.source!r}; add it to [sources] in pack.toml", f"cite.{i}.source"
            )
    if len(spec.when) > MAX_PATTERNS_PER_RULE:
        fail(
            f"{len(spec.when)} patterns in one rule; the most an engine is guaranteed to run "
            f"is {MAX_PATTERNS_PER_RULE}: split the rule (chain findings)",
            "when",
            RulePackSchemaError,
        )


def _disabled_by(
    spec: RuleSpec,
    fail: _RuleFail,
    option_specs: Mapping[str, OptionSpec],
    options: Mapping[str, Scalar],
) -> list[tuple[str, Scalar]]:
    disabled: list[tuple[str, Scalar]] = []
    for k, v in spec.enabled_when.items():
        if k not in option_specs:
            fail(f"unknown option {k!r}", f"enabled_when.{k}")
        try:
            _check_option(option_specs, k, v)
        except OptionError as exc:
            fail(str(exc), f"enabled_when.{k}", RulePackSchemaError)
        if options.get(k) != v:
            disabled.append((k, options.get(k, "")))
    return disabled


def _build_patterns(
    spec: RuleSpec,
    fail: _RuleFail,
    option_specs: Mapping[str, OptionSpec],
    options: Mapping[str, Scalar],
) -> tuple[list[Pattern], dict[str, str], set[str]]:
    """The rule's patterns; the bound variables (name -> fact type); the options read."""
    patterns: list[Pattern] = []
    bound: dict[str, str] = {}
    options_used: set[str] = set()
    for pi, ps in enumerate(spec.when):
        var = ps.bind or f"_{pi}"
        if ps.bind is not None:
            if ps.bind in bound or ps.bind in RESERVED_BINDINGS:
                fail(
                    f"variable {ps.bind!r} bound twice or reserved (reserved: "
                    f"{', '.join(sorted(RESERVED_BINDINGS))})",
                    f"when.{pi}.bind",
                )
            if not ps.exists:
                fail(
                    "a negated pattern (exists = false) cannot bind a variable",
                    f"when.{pi}.bind",
                    RulePackSchemaError,
                )
        conds: list[Condition] = []
        for ci, raw in enumerate(ps.where):
            cond = _build_condition(ps, raw, f"when.{pi}.where.{ci}", conds, bound, fail)
            if cond.ref is None and isinstance(cond.value, str) and cond.value.startswith("$"):
                oname = cond.value[1:]
                if oname not in option_specs:
                    fail(f"unknown option {oname!r} in {cond.value!r}", f"when.{pi}.where.{ci}")
                cond = replace(cond, value=options[oname])
                options_used.add(oname)
                _check_condition_value(ps, cond, f"when.{pi}.where.{ci}", fail)
            conds.append(cond)
        pat = Pattern(var, ps.fact, ps.exists, tuple(conds))
        if ps.fact == "finding" and _finding_name(pat) is None:
            fail(
                'a finding pattern needs a condition ["name", "==", "..."]',
                f"when.{pi}.where",
                RulePackSchemaError,
            )
        patterns.append(pat)
        if ps.bind is not None:
            bound[ps.bind] = ps.fact
    return patterns, bound, options_used


def _build_condition(
    ps: PatternSpec,
    raw: tuple[Any, ...],
    key: str,
    conds: list[Condition],
    bound: Mapping[str, str],
    fail: _RuleFail,
) -> Condition:
    """One condition; a ``$option`` value is left for the caller to substitute."""
    fields = FACT_TYPES[ps.fact]
    fname, op = raw[0], raw[1]
    if fname not in fields:
        fail(f"{ps.fact} facts have no field {fname!r}; fields: {', '.join(sorted(fields))}", key)
    unary = op in {"known", "unknown"}
    if unary != (len(raw) == 2):
        fail(
            f"operator {op!r} {'takes no' if unary else 'needs a'} value", key, RulePackSchemaError
        )
    value: Any = raw[2] if len(raw) == 3 else None
    if isinstance(value, str) and value.startswith("@"):
        target, _, tfield = value[1:].partition(".")
        if target not in bound:
            fail(f"reference {value!r} names no earlier bound variable", key)
        if tfield not in FACT_TYPES[bound[target]]:
            fail(f"{bound[target]} facts have no field {tfield!r}", key)
        if op != "==":
            fail("references (joins) support only '=='", key, RulePackSchemaError)
        if any(c.field == fname and c.ref is not None for c in conds):
            fail(f"field {fname!r} is already joined in this pattern", key, RulePackSchemaError)
        return Condition(fname, op, None, (target, tfield))
    cond = Condition(fname, op, value, None)
    if not (isinstance(value, str) and value.startswith("$")):
        _check_condition_value(ps, cond, key, fail)
    return cond


def _check_condition_value(ps: PatternSpec, c: Condition, key: str, fail: _RuleFail) -> None:
    if c.op not in {"known", "unknown"}:
        fs = FACT_TYPES[ps.fact][c.field]
        _check_value(fs, c.field, c.op, c.value, lambda m: fail(m, key, RulePackSchemaError))


def _with_join_guards(patterns: list[Pattern]) -> tuple[Pattern, ...]:
    """A fact can be bound only if the fields later patterns join on are known: joins compare
    identities, never unknowns (the same in every backend)."""
    joined = {c.ref for pat in patterns for c in pat.conditions if c.ref is not None}
    out = []
    for pat in patterns:
        extra = tuple(
            Condition(jf, "known")
            for jv, jf in sorted(joined)
            if jv == pat.var and Condition(jf, "known") not in pat.conditions
        )
        out.append(replace(pat, conditions=pat.conditions + extra) if extra else pat)
    return tuple(out)


def _check_targets(spec: RuleSpec, fail: _RuleFail, bound: Mapping[str, str]) -> None:
    """Focus, asserted finding's focus and explain placeholders name bound variables."""
    if spec.focus is not None and spec.focus != "network":
        if spec.focus not in bound:
            fail(f"focus {spec.focus!r} is not a bound variable", "focus")
        if bound[spec.focus] not in {"person", "event"}:
            fail("focus must be a person or event variable, or 'network'", "focus")
    af = spec.asserts.focus if spec.asserts is not None else None
    if af is not None and (af not in bound or bound[af] not in {"person", "event"}):
        fail(f"asserts.focus {af!r} is not a bound person/event variable", "asserts.focus")
    for m in _PLACEHOLDER.finditer(spec.explain):
        v, f = m.group(1), m.group(2)
        if v not in bound or f not in FACT_TYPES[bound[v]]:
            fail(f"explain placeholder {m.group(0)} names no bound variable field", "explain")


def _check_value(fs: Any, fname: str, op: str, value: Any, fail: Any) -> None:
    values = value if op in {"in", "not_in"} else (value,)
    if op in {"in", "not_in"} and not isinstance(value, tuple | list):
        fail(f"operator {op!r} needs a list")
    if op == "contains" and fs.type != "ids":
        fail(f"'contains' needs a list field; {fname!r} is {fs.type}")
    if op in _ORDERED_OPS and fs.type not in {"int", "float"}:
        fail(f"operator {op!r} needs a number field; {fname!r} is {fs.type}")
    for v in values:
        if fs.type == "enum" and v not in fs.values:
            fail(f"{v!r} is not a value of {fname!r}; expected one of {list(fs.values)}")
        if fs.type == "bool" and not isinstance(v, bool):
            fail(f"{fname!r} is true/false, got {v!r}")
        if fs.type in {"int", "float"} and (isinstance(v, bool) or not isinstance(v, int | float)):
            fail(f"{fname!r} is a number, got {v!r}")


def _stratify(rules: list[Rule]) -> list[Rule]:
    """Order chained findings: a rule runs after every rule producing a finding it reads,
    and strictly after those producing a finding it negates. Rejects dangling findings
    and any cycle of findings."""
    active = [r for r in rules if r.status == "active"]
    producers: dict[str, list[str]] = {}
    for r in active:
        if r.asserts is not None:
            producers.setdefault(r.asserts.finding, []).append(r.id)
    for r in active:
        for name, _ in r.reads_findings:
            if name not in producers:
                raise RulePackReferenceError(
                    f"reads finding {name!r}, which no active rule asserts (dangling finding)",
                    file=r.file,
                    line=r.line,
                    rule_id=r.id,
                    key="when",
                )
    by_id = {r.id: r for r in active}
    stratum: dict[str, int] = {}
    on_path: set[str] = set()
    # longest path over "reads a finding produced by": an iterative depth-first search, so a
    # chain of thousands of findings needs no recursion
    for start in active:
        if start.id in stratum:
            continue
        stack: list[tuple[str, list[tuple[str, int]]]] = [
            (start.id, _deps(by_id[start.id], producers)[::-1])
        ]
        on_path.add(start.id)
        while stack:
            rid, todo = stack[-1]
            while todo and todo[-1][0] in stratum:
                todo.pop()
            if todo:
                dep = todo[-1][0]
                if dep in on_path:
                    r = by_id[dep]
                    raise RulePackReferenceError(
                        "findings form a cycle through this rule",
                        file=r.file,
                        line=r.line,
                        rule_id=dep,
                        key="when",
                    )
                on_path.add(dep)
                stack.append((dep, _deps(by_id[dep], producers)[::-1]))
                continue
            stack.pop()
            on_path.discard(rid)
            stratum[rid] = max(
                (stratum[p] + step for p, step in _deps(by_id[rid], producers)), default=0
            )
    return [replace(r, stratum=stratum.get(r.id, 0)) for r in rules]


def _deps(rule: Rule, producers: Mapping[str, list[str]]) -> list[tuple[str, int]]:
    """(producer rule id, 0 if read positively, 1 if negated) for each finding read."""
    return [
        (p, 0 if positive else 1) for name, positive in rule.reads_findings for p in producers[name]
    ]


# ------------------------------------------------------------------ bundled packs
def bundled_pack_path(name: str = "ipt-core") -> Path:
    """Directory of a pack shipped with the library (``ipt-core`` or ``ipsrt``)."""
    pkg = resources.files("ipt_formulate")
    candidate = Path(str(pkg)) / "_data" / "rules" / name
    if candidate.is_dir():
        return candidate
    # a source checkout (editable install): rules/ sits at the repository root
    checkout = Path(__file__).resolve().parents[2] / "rules" / name
    if checkout.is_dir():
        return checkout
    raise RulePackError(f"bundled rule pack {name!r} not found", code="rulepack.not_found")


def bundled_packs() -> tuple[str, ...]:
    """Names of the packs shipped with the library; ``load_pack(name)`` loads one."""
    return _BUNDLED_NAMES


_DEFAULT: dict[str, RulePack] = {}


def default_pack() -> RulePack:
    """The bundled default pack ``ipt-core`` (loaded once per process)."""
    if "ipt-core" not in _DEFAULT:
        _DEFAULT["ipt-core"] = load_pack(bundled_pack_path("ipt-core"))
    return _DEFAULT["ipt-core"]
