"""Unit tests of `fidelis.kit`: money, documents, customer-facing text, clock. No database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fidelis.kit import clock, money
from fidelis.kit.document import (
    InvalidDocumentNumber,
    looks_like_document,
    mask_document,
    normalize_document,
)
from fidelis.kit.text import strip_html

# A CPF and a CNPJ with valid check digits (the usual documentation examples).
CPF = "529.982.247-25"
CNPJ = "11.222.333/0001-81"

# What a browser would parse as the start of a tag or comment.
TAG = re.compile(r"<\s*/?\s*[A-Za-z!]")


class TestToPoints:
    @pytest.mark.parametrize(
        ("value", "point_value", "points"),
        [
            ("1.00", "0.01", 100),
            ("10.5", "0.01", 1050),
            ("0.01", "0.01", 1),
            ("-2.50", "0.01", -250),
            ("0.05", "0.05", 1),
            ("3.00", "0.05", 60),
            ("1", "0.000001", 1_000_000),
            ("99999999.99", "0.01", 9_999_999_999),
            ("0", "0.01", 0),
        ],
    )
    def test_converts_exactly(self, value: str, point_value: str, points: int) -> None:
        result = money.to_points(Decimal(value), Decimal(point_value))
        assert result == points
        assert type(result) is int

    @pytest.mark.parametrize("value", ["1.001", "0.005", "-0.001", "10.123"])
    def test_more_than_two_decimals_is_inexact(self, value: str) -> None:
        with pytest.raises(money.InexactAmount, match="2 decimal"):
            money.to_points(Decimal(value), Decimal("0.01"))

    @pytest.mark.parametrize(
        ("value", "point_value"),
        [("0.03", "0.02"), ("0.10", "0.03"), ("1.00", "0.333333"), ("0.01", "0.05")],
    )
    def test_not_a_whole_number_of_points_is_inexact(self, value: str, point_value: str) -> None:
        with pytest.raises(money.InexactAmount, match="whole number of points"):
            money.to_points(Decimal(value), Decimal(point_value))

    @pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "sNaN"])
    def test_non_finite_amounts_are_refused(self, value: str) -> None:
        with pytest.raises(money.InexactAmount):
            money.to_points(Decimal(value), Decimal("0.01"))


class TestRoundingDown:
    @pytest.mark.parametrize(
        ("points", "point_value", "expected"),
        [
            (150, "0.01", "1.50"),
            (100, "0.01", "1.00"),
            (0, "0.01", "0.00"),
            (7, "0.005", "0.03"),  # 0.035 -> 0.03, never 0.04
            (1, "0.333333", "0.33"),
            (3, "0.999999", "2.99"),  # 2.999997 -> 2.99
        ],
    )
    def test_to_money_floors_to_the_cent(
        self, points: int, point_value: str, expected: str
    ) -> None:
        result = money.to_money(points, Decimal(point_value))
        assert result == Decimal(expected)
        # Always two places, so R$ amounts render the same way everywhere.
        assert str(result) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [("12.99", 12), ("12", 12), ("0.999", 0), ("0", 0), ("199.90", 199), ("1E+3", 1000)],
    )
    def test_floor_points(self, value: str, expected: int) -> None:
        result = money.floor_points(Decimal(value))
        assert result == expected
        assert type(result) is int

    def test_floor_cents(self) -> None:
        assert money.floor_cents(Decimal("10.999")) == Decimal("10.99")
        assert money.floor_cents(Decimal("10")) == Decimal("10.00")

    @pytest.mark.parametrize(
        ("value", "exact"),
        [("1", True), ("1.5", True), ("1.25", True), ("1.250", True), ("1.251", False)],
    )
    def test_cents_exact(self, value: str, exact: bool) -> None:
        assert money.cents_exact(Decimal(value)) is exact

    @pytest.mark.parametrize(
        ("point_value", "step"),
        [
            ("0.01", 1),
            ("0.25", 1),
            ("2", 1),
            ("0.005", 2),
            ("0.015", 2),
            ("0.003", 10),
            ("0.000001", 10000),
        ],
    )
    def test_cent_step_is_the_fewest_points_worth_whole_cents(
        self, point_value: str, step: int
    ) -> None:
        value = Decimal(point_value)
        assert money.cent_step(value) == step
        assert money.cents_exact(step * value)
        assert not any(money.cents_exact(n * value) for n in range(1, step))

    @given(
        points=st.integers(min_value=0, max_value=10**9),
        point_value=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(1000), places=6),
    )
    def test_floor_whole_cents_keeps_the_most_points_worth_whole_cents(
        self, points: int, point_value: Decimal
    ) -> None:
        kept = money.floor_whole_cents(points, point_value)
        assert 0 <= kept <= points
        # Worth exactly what is shown for them, and no point more would be.
        assert money.to_money(kept, point_value) == kept * point_value
        assert points - kept < money.cent_step(point_value)


class TestDocument:
    @pytest.mark.parametrize(
        ("value", "digits"),
        [
            (CPF, "52998224725"),
            ("52998224725", "52998224725"),
            (" 529 982 247 25 ", "52998224725"),
            (CNPJ, "11222333000181"),
            ("11222333000181", "11222333000181"),
        ],
    )
    def test_valid_documents_normalize_to_digits(self, value: str, digits: str) -> None:
        assert normalize_document(value) == digits

    @pytest.mark.parametrize(
        "value",
        [
            "529.982.247-26",  # CPF, wrong last check digit
            "529.982.247-35",  # CPF, wrong first check digit
            "11.222.333/0001-82",  # CNPJ, wrong check digit
            "111.111.111-11",  # check digits add up, but a repeated digit is no CPF
            "00000000000000",
        ],
    )
    def test_bad_check_digits_are_refused(self, value: str) -> None:
        with pytest.raises(InvalidDocumentNumber):
            normalize_document(value)

    @pytest.mark.parametrize(
        "value", ["", "1234567890", "529.982.247-2", "529.982.247-255", "123456789012", "1" * 15]
    )
    def test_wrong_lengths_are_refused(self, value: str) -> None:
        with pytest.raises(InvalidDocumentNumber):
            normalize_document(value)

    @pytest.mark.parametrize("value", ["CPF 529.982.247-25", "52998224725abc", "5299822472x5"])
    def test_letters_are_not_punctuation(self, value: str) -> None:
        # The spec ignores punctuation in documents; letters make the value something else.
        with pytest.raises(InvalidDocumentNumber):
            normalize_document(value)

    def test_mask_keeps_only_the_last_two_digits(self) -> None:
        assert mask_document(CPF) == "***.***.***-25"
        assert mask_document("52998224725") == "***.***.***-25"
        assert mask_document(CNPJ) == "**.***.***/****-81"

    @pytest.mark.parametrize(
        ("value", "looks"),
        [(CPF, True), (CNPJ, True), ("ana@example.com", False), ("12345", False)],
    )
    def test_looks_like_document(self, value: str, looks: bool) -> None:
        assert looks_like_document(value) is looks


class TestStripHtml:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("<b>Bônus</b> de <i>boas-vindas</i>", "Bônus de boas-vindas"),
            (
                "<p>Obrigado pela <a href='https://x.example'>compra</a>!</p>",
                "Obrigado pela compra!",
            ),
            ("Tom &amp; Jerry", "Tom & Jerry"),
            ("&quot;Vale&quot; &eacute; presente", '"Vale" é presente'),
            ("  <p> oi </p>  \n\t", "oi"),
            ("a < b and c > d", "a < b and c > d"),
            ("<!-- nota interna -->Pontos", "Pontos"),
            ("<img src=x onerror=alert(1)>Pontos", "Pontos"),
            ("Sem marcação", "Sem marcação"),
            ("", ""),
        ],
    )
    def test_tags_go_text_stays(self, value: str, expected: str) -> None:
        assert strip_html(value) == expected

    def test_script_and_style_content_is_dropped_not_kept_as_text(self) -> None:
        # nh3 (ammonia) removes these elements together with what is inside them.
        assert strip_html("<script>alert('x')</script>Olá") == "Olá"
        assert strip_html("<style>p { color: red }</style>Olá") == "Olá"

    @pytest.mark.parametrize(
        "value",
        [
            "&lt;script&gt;alert(1)&lt;/script&gt;",
            "&lt;b&gt;negrito&lt;/b&gt;",
            "<<b>b>texto",
            "<scr<script></script>ipt>alert(1)</script>",
            "&amp;lt;b&amp;gt;duas vezes&amp;lt;/b&amp;gt;",
        ],
    )
    def test_output_never_contains_a_tag(self, value: str) -> None:
        # Tags smuggled in as entities, or split around a real tag, must not come out as tags:
        # the result is shown to customers, who may see it rendered as HTML by the store.
        cleaned = strip_html(value)
        assert TAG.search(cleaned) is None, cleaned


class TestClock:
    def test_utc_now_is_aware_utc(self) -> None:
        now = clock.utc_now()
        assert now.tzinfo is not None
        assert now.utcoffset() == timedelta(0)

    def test_iso_utc_ends_with_z(self) -> None:
        instant = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert clock.iso_utc(instant) == "2026-01-02T03:04:05Z"
        assert clock.iso_utc(instant.replace(microsecond=120000)) == "2026-01-02T03:04:05.120000Z"

    @given(st.datetimes(timezones=st.just(UTC)))
    def test_iso_utc_is_isoformat_with_z(self, instant: datetime) -> None:
        assert clock.iso_utc(instant) == instant.isoformat().removesuffix("+00:00") + "Z"

    def test_iso_utc_converts_other_offsets(self) -> None:
        brasilia = datetime(2026, 3, 1, 21, 30, tzinfo=clock.BRASILIA)
        assert clock.iso_utc(brasilia) == "2026-03-02T00:30:00Z"
        plus_two = datetime(2026, 3, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
        assert clock.iso_utc(plus_two) == "2026-03-01T00:00:00Z"

    def test_iso_brasilia_has_minus_three(self) -> None:
        instant = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        assert clock.iso_brasilia(instant) == "2026-03-01T09:00:00-03:00"
        # Just after midnight UTC is still the previous day in Brasília.
        assert clock.iso_brasilia(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)) == (
            "2026-03-01T22:00:00-03:00"
        )

    def test_none_stays_none(self) -> None:
        assert clock.iso_utc(None) is None
        assert clock.iso_brasilia(None) is None

    def test_as_utc(self) -> None:
        naive = datetime(2026, 1, 1, 10, 0)  # noqa: DTZ001 - the case under test
        assert clock.as_utc(naive) == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
        brasilia = datetime(2026, 1, 1, 10, 0, tzinfo=clock.BRASILIA)
        converted = clock.as_utc(brasilia)
        assert converted == datetime(2026, 1, 1, 13, 0, tzinfo=UTC)
        assert converted.utcoffset() == timedelta(0)
