"""One risk assessment of a payment attempt's attributes: the lists first, then the rules.

1. Lists: the deployment-wide entries and the attempt's merchant's own. An unexpired allow-list
   entry matching the email, the email's domain, the IP (an address, or a range containing it),
   the card fingerprint or the customer decides: allow. Else a block-list entry decides: block.
   Allow beats block on purpose (whichever scope each is of): it is how staff, or a merchant for
   its own payments, let a known customer through a rule or a blocked range. A list decision
   skips the rules.
2. Rules. Every enabled rule is evaluated. Live rules that match combine by precedence,
   block > review > request_3ds > allow (none matching: allow). Log-only rules that match are
   recorded in `matched` (mode log_only) and never change the outcome. A rule that fails to
   evaluate does not match; its public id is reported in `errors` and logged.

The score is a rough 0-100 figure for people and dashboards, not an input to the outcome:
    block 90-100, review 60-89, request_3ds 40-59, allow 0-30.
It starts at the bottom of the outcome's band and adds 10 for every other rule that matched
(live or log-only), capped at the top of the band. A list decision scores 100 (block) or 0
(allow). Level: high from 80, elevated from 40, else low.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from .expressions import (
    CompiledExpression,
    ExpressionFailed,
    compile_expression,
    expression_matches,
    expression_values,
)
from .lists import email_domain_of, list_candidates
from .models import OUTCOME_PRECEDENCE, ListAction, ListEntry, Outcome, Rule, RuleMode
from .selectors import list_entries_matching, rules_enabled
from .stamps import LISTS, RULES

logger = logging.getLogger(__name__)

# Attributes only the lists read (no expression names them).
LIST_ONLY_ATTRIBUTES = frozenset({"card_fingerprint", "customer_id"})

SCORE_BANDS = {
    Outcome.BLOCK: (90, 100),
    Outcome.REVIEW: (60, 89),
    Outcome.REQUEST_3DS: (40, 59),
    Outcome.ALLOW: (0, 30),
}
SCORE_PER_OTHER_MATCH = 10
HIGH_FROM, ELEVATED_FROM = 80, 40


class Level:
    LOW = "low"
    ELEVATED = "elevated"
    HIGH = "high"


@dataclass(frozen=True)
class Match:
    """A rule or a list entry that matched: its public id, name, the outcome it asks for, its
    mode (list entries are live) and why."""

    id: str
    name: str
    outcome: str
    mode: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "outcome": self.outcome, "mode": self.mode, "reason": self.reason}


@dataclass(frozen=True)
class Assessment:
    score: int
    level: str
    outcome: str
    matched: tuple[Match, ...] = ()
    errors: tuple[str, ...] = field(default=())  # public ids of rules that failed to evaluate

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "level": self.level,
            "outcome": self.outcome,
            "matched": [match.as_dict() for match in self.matched],
            "errors": list(self.errors),
        }


# Compiled expressions of this process, per rule: (version, compiled). A changed rule has a new
# version, so a stale entry is never used, and it is replaced on first use. The text is compared
# too: it is cheap, and a rolled-back test database may hand the same id and version to another rule.
_compiled: dict[int, tuple[int, CompiledExpression]] = {}


def _compiled_expression(rule: Rule) -> CompiledExpression:
    cached = _compiled.get(rule.pk)
    if cached is not None and cached[0] == rule.version and cached[1].text == rule.expression.strip():
        return cached[1]
    compiled = compile_expression(rule.expression)
    _compiled[rule.pk] = (rule.version, compiled)
    return compiled


# The enabled rules, each with its compiled expression, for the list of rules the selector last
# gave (the same list while their stamp holds): an assessment looks nothing up per rule.
_plan: tuple[list[Rule], list[tuple[Rule, CompiledExpression]]] | None = None


def _compiled_rules(rules: list[Rule]) -> list[tuple[Rule, CompiledExpression]]:
    global _plan  # noqa: PLW0603 - a per-process cache, replaced whole
    plan = _plan
    if plan is not None and plan[0] is rules:
        return plan[1]
    compiled = [(rule, _compiled_expression(rule)) for rule in rules]
    _plan = (rules, compiled)
    return compiled


def _level(score: int) -> str:
    if score >= HIGH_FROM:
        return Level.HIGH
    return Level.ELEVATED if score >= ELEVATED_FROM else Level.LOW


def _score(outcome: str, matched_count: int) -> int:
    low, high = SCORE_BANDS[Outcome(outcome)]
    others = max(matched_count - (0 if outcome == Outcome.ALLOW else 1), 0)
    return min(low + SCORE_PER_OTHER_MATCH * others, high)


def _list_match(entry: ListEntry) -> Match:
    name = f"{entry.get_action_display()} list: {entry.get_kind_display()}"
    reason = entry.reason or f"{entry.kind} {entry.value} is on the {entry.action} list"
    return Match(id=entry.public_id, name=name, outcome=entry.action, mode=RuleMode.LIVE, reason=reason)


def _rule_match(rule: Rule) -> Match:
    reason = rule.description or rule.expression
    return Match(id=rule.public_id, name=rule.name, outcome=rule.outcome, mode=rule.mode, reason=reason)


def _assessed(outcome: str, matched: list[Match], errors: list[str], score: int | None = None) -> Assessment:
    score = _score(outcome, len(matched)) if score is None else score
    return Assessment(score=score, level=_level(score), outcome=outcome, matched=tuple(matched), errors=tuple(errors))


def _normalised(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The expression attributes, spelled as list values and rules expect them: emails and
    domains in lower case (the domain taken from the email when not given), codes upper case."""
    normalised = {name: value for name, value in attributes.items() if name not in LIST_ONLY_ATTRIBUTES}
    for name in ("email", "email_domain"):
        if isinstance(normalised.get(name), str):
            normalised[name] = normalised[name].strip().lower() or None
    if normalised.get("email_domain") is None:
        normalised["email_domain"] = email_domain_of(normalised.get("email"))
    for name in ("currency", "card_country", "ip_country", "billing_country"):
        if isinstance(normalised.get(name), str):
            normalised[name] = normalised[name].strip().upper()
    return normalised


def _list_decision(entries: list[ListEntry]) -> str:
    """Which list decides: the deployment's block list (kept by staff) is never overridden by a
    merchant's allow entry; otherwise an allow entry (the merchant's or the deployment's) beats a
    block entry, which is how a known customer is let through a rule or a blocked range."""
    actions = {(entry.merchant_id is None, entry.action) for entry in entries}
    if (True, ListAction.BLOCK) in actions and (True, ListAction.ALLOW) not in actions:
        return ListAction.BLOCK
    return ListAction.ALLOW if any(action == ListAction.ALLOW for _, action in actions) else ListAction.BLOCK


def risk_assess(
    attributes: Mapping[str, Any],
    *,
    merchant_id: int | None = None,
    lists_only: bool = False,
    stamps: Mapping[str, str | None] | None = None,
) -> Assessment:
    """Assess one payment attempt from its attributes (apps.risk.expressions.ATTRIBUTE_TYPES,
    plus `card_fingerprint` and `customer_id` for the lists); missing attributes are unknown.

    The lists are the deployment-wide entries and those of the merchant `merchant_id` (the
    attempt's merchant): one merchant's entries never decide another merchant's payment.
    `lists_only`: the lists decide and the rules are not run (renewals' policy). `stamps`: the
    rules' and lists' stamps as Redis gave them (apps.risk.stamps): this process's copies are
    used under them; without them the database is asked."""
    stamps = stamps or {}
    values = expression_values(_normalised(attributes))

    entries = list_entries_matching(
        candidates=list_candidates(
            email=values["email"],
            email_domain=values["email_domain"],
            ip=values["ip"],
            card_fingerprint=attributes.get("card_fingerprint"),
            customer_id=attributes.get("customer_id"),
        ),
        now=timezone.now(),
        merchant_id=merchant_id,
        stamp=stamps.get(LISTS),
    )
    if entries:
        decided = _list_decision(entries)
        score = 0 if decided == ListAction.ALLOW else 100
        return _assessed(decided, [_list_match(entry) for entry in entries], [], score=score)

    if lists_only:
        return _assessed(Outcome.ALLOW, [], [])
    matched: list[Match] = []
    errors: list[str] = []
    outcome: str = Outcome.ALLOW
    for rule, compiled in _compiled_rules(rules_enabled(stamp=stamps.get(RULES))):
        # The fast evaluator first (None: it cannot tell), inline: 200 rules make this loop hot.
        fast = compiled.fast
        hit = fast(values) if fast is not None else None
        if hit is None:
            try:
                hit = expression_matches(compiled, values)
            except (ExpressionFailed, ValidationError) as error:
                logger.warning("risk_rule_failed", extra={"rule": rule.public_id, "error": str(error)})
                errors.append(rule.public_id)
                continue
        if not hit:
            continue
        matched.append(_rule_match(rule))
        if rule.mode == RuleMode.LIVE:
            outcome = max(outcome, rule.outcome, key=lambda name: OUTCOME_PRECEDENCE[Outcome(name)])
    return _assessed(outcome, matched, errors)
