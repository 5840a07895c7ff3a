"""The library's error hierarchy.

Every error that ``ipt_formulate`` raises on purpose derives from :class:`IptFormulateError`
and carries a stable, machine-readable ``code`` (``"inventory.unknown_person"``,
``"rulepack.unknown_field"``, ...). Codes are part of the public API: tools branch on them,
batch output records them, and they never change meaning between minor versions.

Input errors name *where* the problem is: a JSON path such as ``$.persons[2].conflict`` for
an inventory, or a file, line, rule id and key for a rule pack.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "EngineError",
    "InputError",
    "InputTooLargeError",
    "InventoryError",
    "InventoryRangeError",
    "InventoryReferenceError",
    "InventorySchemaError",
    "InventoryTemporalError",
    "IptFormulateError",
    "Issue",
    "MalformedInputError",
    "OptionError",
    "RulePackError",
    "RulePackReferenceError",
    "RulePackSchemaError",
    "RulePackSyntaxError",
]


@dataclass(frozen=True, order=True)
class Issue:
    """One problem found in an input: where it is, a stable code, and what is wrong."""

    path: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.code}]"


class IptFormulateError(Exception):
    """Root of every error raised by ipt_formulate on purpose."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary, as written to batch error records."""
        return {"code": self.code, "message": self.message}


class InputError(IptFormulateError):
    """The input given to the library is not acceptable."""

    code = "input.invalid"

    def __init__(
        self, message: str, *, code: str | None = None, issues: tuple[Issue, ...] = ()
    ) -> None:
        super().__init__(message, code=code)
        self.issues: tuple[Issue, ...] = issues

    @property
    def path(self) -> str | None:
        """JSON path of the first issue, if any."""
        return self.issues[0].path if self.issues else None

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["issues"] = [
            {"path": i.path, "code": i.code, "message": i.message} for i in self.issues
        ]
        return out


class InputTooLargeError(InputError):
    """The input exceeds a configured limit (:class:`ipt_formulate.limits.Limits`).

    ``limit`` names the limit (``max_bytes``, ``max_persons``, ...), ``value`` is its setting
    and ``actual`` what the input has (at least).
    """

    code = "input.too_large"

    def __init__(self, message: str, *, limit: str, value: int, actual: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value
        self.actual = actual

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out.update(limit=self.limit, value=self.value, actual=self.actual)
        return out


class MalformedInputError(InputError):
    """The input is not parseable at all: empty, not JSON, or not a JSON object."""

    code = "input.malformed"


class InventoryError(InputError):
    """An inventory failed validation. ``issues`` lists every problem found, sorted by path."""

    code = "inventory.invalid"


class InventorySchemaError(InventoryError):
    """Wrong type, missing required field, unknown field or value outside a vocabulary."""

    code = "inventory.schema"


class InventoryReferenceError(InventoryError):
    """An id is duplicated, or a reference names a person or event that does not exist."""

    code = "inventory.reference"


class InventoryTemporalError(InventoryError):
    """Dates contradict each other: after the assessment, onset after assessment, ..."""

    code = "inventory.temporal"


class InventoryRangeError(InventoryError):
    """A score is outside its instrument's range."""

    code = "inventory.range"


class OptionError(InputError):
    """An unknown rule-pack option, or a value of the wrong type for it."""

    code = "options.invalid"


class RulePackError(IptFormulateError):
    """A rule pack failed to load or validate. Names the file, line, rule id and key."""

    code = "rulepack.invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        file: str | None = None,
        line: int | None = None,
        rule_id: str | None = None,
        key: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.rule_id = rule_id
        self.key = key
        where = ":".join(p for p in (file, str(line) if line else None) if p)
        parts = [where] if where else []
        if rule_id:
            parts.append(f"rule {rule_id!r}")
        if key:
            parts.append(f"key {key!r}")
        prefix = ", ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message, code=code)

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out.update(file=self.file, line=self.line, rule_id=self.rule_id, key=self.key)
        return out


class RulePackSyntaxError(RulePackError):
    """A rule file is not valid TOML."""

    code = "rulepack.syntax"


class RulePackSchemaError(RulePackError):
    """A rule file is valid TOML but does not follow the rule-pack format."""

    code = "rulepack.schema"


class RulePackReferenceError(RulePackError):
    """A rule names something that does not exist: a fact field, finding, area, source, var."""

    code = "rulepack.reference"


class EngineError(IptFormulateError):
    """An internal failure of a rule engine backend (a bug: please report it)."""

    code = "engine.internal"
