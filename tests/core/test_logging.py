from __future__ import annotations

import io
import logging

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from apps.core.cards import card_number_spans
from apps.core.logging import CardDataMaskingFilter, build_logging_config, mask_card_data

TEST_PANS = ["4111111111111111", "5424000000000015", "370000000000002", "6011000000000012", "4007000000027"]


@pytest.mark.parametrize("pan", TEST_PANS)
def test_card_numbers_are_masked_to_last_four(pan):
    assert mask_card_data(f"charging {pan} now") == f"charging [card ****{pan[-4:]}] now"


@pytest.mark.parametrize("formatted", ["4111 1111 1111 1111", "4111-1111-1111-1111"])
def test_grouped_card_numbers_are_masked(formatted):
    assert "1111 1111" not in mask_card_data(formatted)
    assert mask_card_data(formatted) == "[card ****1111]"


@pytest.mark.parametrize(
    "text",
    [
        "order 1234567890123",
        "trans 60020981676",
        "ts 1700000000000 ms",
        "amount 10050",
        "phone +1 555 0100",
        "succeeded in 0.4111111111111111s",  # Luhn-valid fraction digits of a float
    ],
)
def test_numbers_that_are_not_cards_are_left_alone(text):
    assert mask_card_data(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"cvc": "123"}', '{"cvc": "***"}'),
        ("cvv=1234", "cvv=***"),
        ("<cardCode>999</cardCode>", "<cardCode>***</cardCode>"),
        ("'card_code': '321'", "'card_code': '***'"),
    ],
)
def test_cvv_fields_are_masked(text, expected):
    assert mask_card_data(text) == expected


@given(st.text())
def test_masking_never_fails_and_never_leaves_a_card_number_standing_alone(text):
    assert card_number_spans(mask_card_data(text)) == []


@given(st.lists(st.sampled_from([*TEST_PANS, "4111 1111 1111 1111", " ", "x", "-", ".", "_", "id", "7"]), max_size=12))
def test_masking_finds_card_numbers_among_words_and_digits(parts):
    assert card_number_spans(mask_card_data("".join(parts))) == []


@pytest.mark.parametrize(
    "identifier",
    [
        "req_fc4c5122a90c4e4111111111111111eab3",  # a request id whose hex holds a Luhn-valid run
        "4111111111111111-2222-4333-8444-555555555555",  # a UUID-shaped task id
        "6f1c2a3b-4111-1111-1111-111111111111",
        "pay_4111111111111111",
        "batch.4111111111111111",
    ],
)
def test_ids_are_never_taken_for_card_numbers(identifier):
    assert mask_card_data(f"request_id={identifier} done") == f"request_id={identifier} done"


def _capture(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    config = build_logging_config(level="INFO", fmt=fmt)
    formatter_config = dict(config["formatters"]["default"])
    factory = formatter_config.pop("()")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(factory(**formatter_config))
    handler.addFilter(CardDataMaskingFilter())
    logger = logging.getLogger(f"tests.capture.{fmt}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_the_filter_masks_stdlib_arguments_structlog_values_and_tracebacks(fmt):
    logger, stream = _capture(fmt)
    logger.info("card %s cvv=%s", "4111111111111111", "123")
    structlog.get_logger(logger.name).info("charge", card="5424000000000015", nested={"pan": [370000000000002]})
    try:
        raise ValueError("declined 6011000000000012")
    except ValueError:
        logger.exception("failed")

    output = stream.getvalue()
    for pan in ["4111111111111111", "5424000000000015", "370000000000002", "6011000000000012"]:
        assert pan not in output
    assert "****1111" in output
    assert "****0015" in output
    assert "cvv=***" in output


def test_the_filter_leaves_broken_format_strings_to_the_formatter():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s %s", ("only-one",), None)

    assert CardDataMaskingFilter().filter(record) is True
    assert record.args == ("only-one",)
