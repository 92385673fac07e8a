"""What each item may be used for: its licence and declared uses, read through the home's
policy.

A manifest may carry a ``licence`` (an SPDX id where one fits, else free text; ``license``
is read too) and ``uses`` (any of ``analyse``, ``display``, ``train``, or ``none``). Both
are stored with each item as the manifest gave them; what an item may be used for is
decided when it is read, by the policy in the home (``rights/policy.json``), so a change of
policy applies to the next run without re-ingesting:

- the rule for the item's licence when it has one, else the rule for its source when the
  policy has one, narrowed to the declared uses when the manifest declared any;
- else the declared uses (consent recorded without a licence);
- else the policy's ``unstated`` rule.

A licence the policy does not name, or a use that is not one of the three, is a quarantine
reason at ingest (add the licence to the policy, then ingest again).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.errors import UnusableInputError

USES = ("analyse", "display", "train")
NO_USE = "none"
USE_ALIASES = {"analyze": "analyse", "analysis": "analyse", "training": "train",
               "show": "display"}
LICENCE_COLUMNS = ("licence", "license")
USES_COLUMN = "uses"
POLICY_FORMAT = 1

# Safe for a brand: rows that say nothing about their rights are counted in the trends
# (facts about what was seen) but never shown nor learned from; permissive licences that
# allow commercial reuse allow everything; non-commercial and no-derivatives ones allow
# counting only.
DEFAULT_LICENCES: dict[str, tuple[str, ...]] = {
    "CC0-1.0": USES, "PDDL-1.0": USES, "MIT": USES, "Apache-2.0": USES, "BSD-3-Clause": USES,
    "CC-BY-4.0": USES, "CC-BY-SA-4.0": USES,
    "CC-BY-NC-4.0": ("analyse",), "CC-BY-NC-SA-4.0": ("analyse",),
    "CC-BY-ND-4.0": ("analyse", "display"), "CC-BY-NC-ND-4.0": ("analyse",),
    "LicenseRef-All-Rights-Reserved": ("analyse",),
}
DEFAULT_UNSTATED: tuple[str, ...] = ("analyse",)


def parse_uses(text: str) -> tuple[str, ...]:
    """``"analyse; display"`` -> ``("analyse", "display")``; ``"none"`` -> ``()``.
    ValueError naming the first word that is not a use."""
    words = [w.strip().lower() for w in text.replace(";", ",").replace("|", ",").replace(
        " ", ",").split(",") if w.strip()]
    if words == [NO_USE]:
        return ()
    uses = set()
    for word in words:
        use = USE_ALIASES.get(word, word)
        if use not in USES:
            raise ValueError(f"{word!r} is not a use (one of {', '.join(USES)}, or {NO_USE})")
        uses.add(use)
    return tuple(u for u in USES if u in uses)


def uses_text(uses: Iterable[str]) -> str:
    return ",".join(uses) or NO_USE


@dataclass(frozen=True)
class Policy:
    """Which uses each licence and source allows, and what rows without rights get."""

    licences: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_LICENCES))
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unstated: tuple[str, ...] = DEFAULT_UNSTATED
    revision: int = 0   # 0: the default, no file written yet

    def knows_licence(self, licence: str) -> bool:
        return licence in self.licences

    def allowed(self, source: str, licence: str | None, declared: str | None
                ) -> tuple[str, ...]:
        """The uses one item may be put to (``declared`` as stored: None = not stated)."""
        if licence:
            rule = self.licences.get(licence, ())
        elif source in self.sources:
            rule = self.sources[source]
        elif declared is not None:   # consent recorded, no licence or source rule to narrow it
            return parse_uses(declared)
        else:
            return self.unstated
        if declared is not None:
            granted = set(parse_uses(declared))
            rule = tuple(u for u in rule if u in granted)
        return rule

    def reason(self, source: str, licence: str | None, declared: str | None, use: str) -> str:
        """Why an item may not be put to ``use`` ('' when it may), for a placeholder."""
        if use in self.allowed(source, licence, declared):
            return ""
        if declared is not None and use not in parse_uses(declared):
            return f"its rights holder did not allow {use}"
        if licence:
            return f"the policy does not allow {use} under {licence}"
        if source in self.sources:
            return f"the policy does not allow {use} for source {source}"
        return f"no rights stated; the policy allows {use} only when they are"

    def with_rule(self, licence: str | None = None, source: str | None = None,
                  uses: tuple[str, ...] | None = None) -> Policy:
        """The next revision, with the rule for ``licence`` or ``source`` (or, with neither,
        the ``unstated`` rule) set to ``uses``; ``uses=None`` removes a licence's or
        source's rule."""
        if licence and source:
            raise ValueError("a rule is for a licence or a source, not both")
        licences, sources, unstated = dict(self.licences), dict(self.sources), self.unstated
        table = licences if licence else sources if source else None
        if table is None:
            if uses is None:
                raise ValueError("the rule for items without rights cannot be removed")
            unstated = uses
        elif uses is None:
            table.pop(licence or source, None)
        else:
            table[licence or source] = uses
        return Policy(licences, sources, unstated, self.revision + 1)

    # -- the file --------------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps({"format": POLICY_FORMAT, "revision": self.revision,
                           "unstated": list(self.unstated),
                           "licences": {k: list(v) for k, v in sorted(self.licences.items())},
                           "sources": {k: list(v) for k, v in sorted(self.sources.items())}},
                          indent=1)

    @classmethod
    def from_json(cls, text: bytes | str, where: str) -> Policy:
        """Parse a policy file; a one-line UnusableInputError when it is not one."""
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict) or raw.get("format") != POLICY_FORMAT:
                raise ValueError(f"not a format-{POLICY_FORMAT} policy")
            return cls(licences=_rules(raw.get("licences", {}), "licences"),
                       sources=_rules(raw.get("sources", {}), "sources"),
                       unstated=_uses_list(raw.get("unstated", []), "unstated"),
                       revision=int(raw.get("revision", 0)))
        except (ValueError, TypeError, AttributeError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise UnusableInputError(f"rights policy {where} does not parse ({first}); "
                                     "fix or remove it: nothing was changed") from None

    @property
    def digest(self) -> str:
        from pipeline.core.layout import content_key

        return content_key(json.dumps({**json.loads(self.to_json()), "revision": 0}).encode())


def _uses_list(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: a list of uses expected")
    try:
        return parse_uses(",".join(value) or NO_USE)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _rules(value, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: a mapping of name -> list of uses expected")
    return {str(k): _uses_list(v, f"{where}.{k}") for k, v in value.items()}


# -- applied to a table of items --------------------------------------------------------------

RIGHTS_COLUMNS = ["source", "licence", "uses"]


def allowed_mask(table: pa.Table, policy: Policy, use: str) -> pa.Array:
    """Which rows of an items table (with ``RIGHTS_COLUMNS``) may be put to ``use``.

    Evaluated once per distinct (source, licence, uses): a store holds a handful of them."""
    if use not in USES:
        raise ValueError(f"unknown use {use!r}")
    keys = pa.table({c: table[c] for c in RIGHTS_COLUMNS})
    distinct = keys.group_by(RIGHTS_COLUMNS).aggregate([]).to_pylist()
    allowed = [row for row in distinct if use in policy.allowed(row["source"], row["licence"],
                                                                row["uses"])]
    if not allowed:
        return pa.array([False] * table.num_rows)
    if len(allowed) == len(distinct):
        return pa.array([True] * table.num_rows)
    mask = None
    for row in allowed:
        match = pc.equal(table["source"], row["source"])
        for column in ("licence", "uses"):
            match = pc.and_(match, pc.is_null(table[column]) if row[column] is None
                            else pc.fill_null(pc.equal(table[column], row[column]), False))
        mask = match if mask is None else pc.or_(mask, match)
    return mask


def counts_by_licence(table: pa.Table, policy: Policy) -> dict[str, int]:
    """Items per licence and per allowed use, for a run's log (``rights.licence.<id>``,
    ``rights.use.<use>``)."""
    counts: dict[str, int] = {}
    licences = pc.fill_null(table["licence"], "unstated")
    for row in pa.table({"licence": licences}).group_by("licence").aggregate(
            [("licence", "count")]).to_pylist():
        name = re.sub(r"[^\w\-. /]", "_", row["licence"])   # what an MLflow key may hold
        counts[f"rights.licence.{name}"] = counts.get(f"rights.licence.{name}", 0) + row[
            "licence_count"]
    for use in USES:
        counts[f"rights.use.{use}"] = int(pc.sum(allowed_mask(table, policy, use)).as_py() or 0)
    return counts
