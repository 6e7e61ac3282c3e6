"""The fraud report (/api/v1/reports/fraud) and the dashboard's risk panel: what the risk
assessments of a merchant's payments decided, what the review queue made of the held ones, and
whether 3-D Secure passed when asked for.

A payment counts when it carries an assessment (`risk.outcome`; payments made before risk
existed carry none) and was created in the range; a row's figures are those of the payments
created on its day (or matched by its rule), whatever happened to them later: review outcomes and
authentication as they stand now. Amounts are the amounts asked, in minor units, per currency.

Where the work happens, and what it costs:
- By day: the counts and amounts are one grouped query (JSON key lookups, which PostgreSQL and
  SQLite both run). The time to decision is read in Python from the decided reviews of the range
  only (two timestamps a row): percentiles have no portable SQL.
- By rule: a Python pass over the `matched` lists of the range's payments that some rule or list
  entry matched, streamed in chunks (one row per such payment; memory per rule, not per payment).
  `jsonb_array_elements` would keep it in PostgreSQL, but SQLite (the quickstart) needs
  `json_each`: one code path that both run correctly is worth the pass over a bounded range.
- Dashboard: one grouped query over the month's assessed payments (the `created_at` index) and
  one count of the review queue (its partial index).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.core.dates import utc_days
from apps.core.money import to_decimal
from apps.payments.models import Authentication, Payment, PaymentStatus, Review
from apps.risk.models import Outcome, RuleMode

GROUPS = ("day", "rule")
# What the assessment decided -> the report's name for it.
OUTCOMES = {
    Outcome.ALLOW: "allowed",
    Outcome.REVIEW: "reviewed",
    Outcome.REQUEST_3DS: "request_3ds",
    Outcome.BLOCK: "blocked",
}
MEASURES = ("evaluated", *OUTCOMES.values())
REVIEW_OUTCOMES = (Review.APPROVED, Review.REJECTED, Review.EXPIRED, Review.PENDING)
# Decisions someone took; an expired review was voided because nobody did.
DECIDED = (Review.APPROVED, Review.REJECTED)
CHUNK = 2000

Cells = dict[tuple[str, str], dict[str, int]]  # (group, currency) -> counters
Durations = dict[tuple[str, str], list[int]]  # (group, currency) -> seconds to decision


def _assessed(*, start: date, end: date, merchant_id: int | None) -> QuerySet[Payment]:
    since, until = utc_days(start, end)
    payments = Payment.objects.filter(created_at__gte=since, created_at__lt=until, risk__has_key="outcome")
    return payments if merchant_id is None else payments.filter(merchant_id=merchant_id)


def _seconds(created_at: datetime, reviewed_at: datetime) -> int:
    return max(int((reviewed_at - created_at).total_seconds()), 0)


def percentile(values: list[int], fraction: float) -> int | None:
    """Nearest-rank percentile: the smallest value with at least `fraction` of them at or below
    it (always one of the values, so whole seconds stay whole); None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]


def _new_counters() -> dict[str, int]:
    counters = dict.fromkeys((name for measure in MEASURES for name in (measure, f"{measure}_amount")), 0)
    counters.update(dict.fromkeys((f"review_{outcome}" for outcome in REVIEW_OUTCOMES), 0))
    counters.update(three_d_secure_passed=0, matches_live=0, matches_log_only=0)
    return counters


def _by_day(payments: QuerySet[Payment]) -> tuple[Cells, Durations]:
    aggregates: dict[str, Any] = {"evaluated": Count("id"), "evaluated_amount": Sum("amount", default=0)}
    for outcome, measure in OUTCOMES.items():
        aggregates[measure] = Count("id", filter=Q(risk__outcome=outcome.value))
        aggregates[f"{measure}_amount"] = Sum("amount", filter=Q(risk__outcome=outcome.value), default=0)
    for decision in REVIEW_OUTCOMES:
        aggregates[f"review_{decision}"] = Count("id", filter=Q(review=decision))
    passed = Q(risk__outcome=Outcome.REQUEST_3DS.value, authentication=Authentication.SUCCEEDED)
    aggregates["three_d_secure_passed"] = Count("id", filter=passed)
    by_day = payments.annotate(day=TruncDate("created_at", tzinfo=UTC))
    cells: Cells = {}
    for grouped in by_day.values("day", "currency").annotate(**aggregates).order_by():
        row: dict[str, Any] = dict(grouped)
        cells[(row.pop("day").isoformat(), row.pop("currency"))] = {**_new_counters(), **row}
    durations: Durations = defaultdict(list)
    decided = by_day.filter(review__in=DECIDED, reviewed_at__isnull=False)
    for day, currency, created_at, reviewed_at in decided.values_list("day", "currency", "created_at", "reviewed_at"):
        if reviewed_at is not None:
            durations[(day.isoformat(), currency)].append(_seconds(created_at, reviewed_at))
    return cells, durations


def _by_rule(payments: QuerySet[Payment]) -> tuple[Cells, Durations, dict[str, str]]:
    cells: Cells = defaultdict(_new_counters)
    durations: Durations = defaultdict(list)
    names: dict[str, str] = {}  # the newest name each rule had (payments in id order)
    matched = payments.exclude(risk__matched=[]).order_by("id")
    fields = ("currency", "amount", "risk__outcome", "risk__matched", "review", "authentication")
    for currency, amount, outcome, matches, review, authentication, created_at, reviewed_at in matched.values_list(
        *fields, "created_at", "reviewed_at"
    ).iterator(chunk_size=CHUNK):
        measure = OUTCOMES.get(outcome)
        seen: set[str] = set()
        for match in matches or []:
            rule_id = match.get("id") or ""
            if rule_id in seen:
                continue
            seen.add(rule_id)
            names[rule_id] = match.get("name") or ""
            counters = cells[(rule_id, currency)]
            counters["matches_log_only" if match.get("mode") == RuleMode.LOG_ONLY else "matches_live"] += 1
            for name in ("evaluated", measure):
                if name:
                    counters[name] += 1
                    counters[f"{name}_amount"] += amount
            if review:
                counters[f"review_{review}"] += 1
            if outcome == Outcome.REQUEST_3DS and authentication == Authentication.SUCCEEDED:
                counters["three_d_secure_passed"] += 1
            if review in DECIDED and reviewed_at is not None:
                durations[(rule_id, currency)].append(_seconds(created_at, reviewed_at))
    return cells, durations, names


def _cells(
    *, start: date, end: date, group_by: str, merchant_id: int | None
) -> tuple[Cells, Durations, dict[str, str]]:
    payments = _assessed(start=start, end=end, merchant_id=merchant_id)
    if group_by == "rule":
        return _by_rule(payments)
    return (*_by_day(payments), {})


def _group_order(cells: Cells, group_by: str) -> list[str]:
    groups: dict[str, int] = defaultdict(int)
    for (group, _currency), counters in cells.items():
        groups[group] += counters["evaluated"]
    if group_by == "rule":  # top rules first
        return sorted(groups, key=lambda group: (-groups[group], group))
    return sorted(groups)


def _group_key(group_by: str, group: str, names: dict[str, str]) -> dict[str, Any]:
    if group_by == "rule":
        return {"rule": group, "rule_name": names.get(group, "")}
    return {"day": group}


def fraud_report(*, start: date, end: date, group_by: str, merchant_id: int | None = None) -> list[dict[str, Any]]:
    """One row per day (or per rule, most matches first) with what the assessments decided:
    `evaluated`, `allowed`, `reviewed`, `request_3ds` and `blocked`, each a count and amounts in
    minor units per currency; review outcomes and the seconds to a decision (median, p90);
    3-D Secure requested and passed; per rule, its matches live and log-only."""
    cells, durations, names = _cells(start=start, end=end, group_by=group_by, merchant_id=merchant_id)
    rows = []
    for group in _group_order(cells, group_by):
        mine = sorted((currency, counters) for (key, currency), counters in cells.items() if key == group)
        total = {name: sum(counters[name] for _currency, counters in mine) for name in _new_counters()}
        seconds = [value for (key, _currency), values in durations.items() if key == group for value in values]
        row: dict[str, Any] = _group_key(group_by, group, names)
        if group_by == "rule":
            row["matches"] = {"live": total["matches_live"], "log_only": total["matches_log_only"]}
        for measure in MEASURES:
            row[measure] = {
                "count": total[measure],
                "amounts": [
                    {"amount": counters[f"{measure}_amount"], "currency": currency}
                    for currency, counters in mine
                    if counters[measure]
                ],
            }
        row["review"] = {
            **{outcome: total[f"review_{outcome}"] for outcome in REVIEW_OUTCOMES},
            "seconds_to_decision": {"median": percentile(seconds, 0.5), "p90": percentile(seconds, 0.9)},
        }
        row["three_d_secure"] = {"requested": total["request_3ds"], "passed": total["three_d_secure_passed"]}
        rows.append(row)
    return rows


def fraud_report_columns(group_by: str) -> list[str]:
    group = ["rule", "rule_name", "matches_live", "matches_log_only"] if group_by == "rule" else ["day"]
    return [
        *group,
        "currency",
        *(name for measure in MEASURES for name in (measure, f"{measure}_amount")),
        *(f"review_{outcome}" for outcome in REVIEW_OUTCOMES),
        "seconds_to_decision_median",
        "seconds_to_decision_p90",
        "three_d_secure_passed",
    ]


def fraud_report_flat(*, start: date, end: date, group_by: str, merchant_id: int | None = None) -> list[dict[str, Any]]:
    """The report as flat rows for a spreadsheet: one per group and currency, in the columns of
    `fraud_report_columns`, amounts in major units (Decimal) beside their currency."""
    cells, durations, names = _cells(start=start, end=end, group_by=group_by, merchant_id=merchant_id)
    columns = fraud_report_columns(group_by)
    rows = []
    for group in _group_order(cells, group_by):
        for (key, currency), counters in sorted(cells.items()):
            if key != group:
                continue
            seconds = durations.get((key, currency), [])
            values: dict[str, Any] = {
                **_group_key(group_by, group, names),
                **counters,
                "currency": currency,
                "seconds_to_decision_median": percentile(seconds, 0.5),
                "seconds_to_decision_p90": percentile(seconds, 0.9),
            }
            for measure in MEASURES:
                values[f"{measure}_amount"] = to_decimal(counters[f"{measure}_amount"], currency)
            rows.append({column: values[column] for column in columns})
    return rows


# --- the dashboard's risk panel -------------------------------------------------------------------


def _money(rows: Iterable[dict[str, Any]], field: str) -> dict[str, int]:
    return {row["currency"]: row[field] for row in rows if row[field]}


def risk_panel(now: datetime | None = None) -> dict[str, Any]:
    """Today and this month (UTC), every merchant: payments assessed, blocked (count, amount per
    currency), held for review, 3-D Secure requested; and how many wait in the review queue now."""
    now = now or timezone.now()
    today = utc_days(now.date())[0]
    month = utc_days(now.date().replace(day=1))[0]
    aggregates: dict[str, Any] = {}
    for period, since in (("today", today), ("month", month)):
        within = Q(created_at__gte=since)
        blocked = within & Q(risk__outcome=Outcome.BLOCK.value)
        aggregates[f"{period}_evaluated"] = Count("id", filter=within)
        aggregates[f"{period}_blocked"] = Count("id", filter=blocked)
        aggregates[f"{period}_blocked_amount"] = Sum("amount", filter=blocked, default=0)
        aggregates[f"{period}_held"] = Count("id", filter=within & ~Q(review=""))
        aggregates[f"{period}_request_3ds"] = Count("id", filter=within & Q(risk__outcome=Outcome.REQUEST_3DS.value))
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in Payment.objects.filter(created_at__gte=min(today, month), risk__has_key="outcome")
        .values("currency")
        .annotate(**aggregates)
        .order_by("currency")
    ]
    periods = [
        {
            "label": label,
            "evaluated": sum(row[f"{period}_evaluated"] for row in rows),
            "blocked": sum(row[f"{period}_blocked"] for row in rows),
            "blocked_amounts": _money(rows, f"{period}_blocked_amount"),
            "held": sum(row[f"{period}_held"] for row in rows),
            "request_3ds": sum(row[f"{period}_request_3ds"] for row in rows),
        }
        for label, period in (("Today", "today"), ("This month", "month"))
    ]
    # As the review queue counts them: waiting and still authorised.
    waiting = Payment.objects.filter(review=Review.PENDING, status=PaymentStatus.AUTHORIZED).count()
    return {"periods": periods, "waiting": waiting}
