"""Decoding: JSON bytes -> models with our cattrs converter vs json.loads vs pydantic v2.

10,000 distinct payloads of each shape. Compared (interleaved rounds, medians), in two
pairs that start from the same input:

Bytes in:

* ``json.loads``: the floor for a Python JSON decoder (dicts only, no models).
* ``flexiti loads``: `_converter.loads` alone (the same C scanner, Decimal for
  non-integers), the part of the next row that structuring cannot speed up.
* ``flexiti loads+structure``: what the client does per response: `_converter.loads`
  then `_converter.structure` into the attrs model.
* ``pydantic validate_json``: a pydantic v2 model of the same shape (bench-only), bytes
  in, parsed and validated in Rust in one pass.

Dicts in:

* ``flexiti structure``: structuring alone, from dicts decoded by `_converter.loads`.
* ``pydantic validate``: the pydantic model from ``json.loads`` dicts. The payloads hold
  no JSON fractions (amounts are strings), so both decoders give equal dicts; the run
  asserts it.

The pydantic models mirror ours: frozen, Decimal money, aware datetimes, known codes as
enums and unknown codes kept as strings, the documented spelling variants as aliases.
They do not keep the ``raw`` mapping our models keep, nor do they accept what our
converter also accepts (``""`` for a missing number, ``"true"`` for a boolean, ids as
numbers or strings, ``term_options`` as ``"6,12"``...).
"""

from __future__ import annotations

import enum
import gc
import json
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Union

from ._harness import Context, fmt_ratio, interleaved, markdown_table, median
from ._payloads import authorization_payload, lookup_payload

NAME = "decoding"
TITLE = "Decoding: 10,000 payloads -> models (cattrs converter vs pydantic v2)"


def _pydantic_models() -> dict[str, Any]:
    from pydantic import AliasChoices, BaseModel, ConfigDict, Field

    frozen = ConfigDict(frozen=True, populate_by_name=True)

    def code(alias: Any = None) -> Any:
        """A tolerant code field, like ours: a known code becomes the enum, else a str."""
        return Field(default=None, union_mode="left_to_right", validation_alias=alias)

    class Province(str, enum.Enum):
        AB, BC, MB, NB, NL, NS, NT, NU, ON, PE, QC, SK, YT = (
            "AB",
            "BC",
            "MB",
            "NB",
            "NL",
            "NS",
            "NT",
            "NU",
            "ON",
            "PE",
            "QC",
            "SK",
            "YT",
        )

    class RiskRating(str, enum.Enum):
        L, M, H, X, Y, Z, P, Q, R, S, N = "L", "M", "H", "X", "Y", "Z", "P", "Q", "R", "S", "N"

    class OfferCategory(str, enum.Enum):
        EQUAL_BILLING = "equal_billing"
        DEFERRED_PAYMENT = "deferred_payment"

    class AuthorizationStatus(str, enum.Enum):
        OPENED = "opened"
        CLOSED = "closed"

    class TransactionType(str, enum.Enum):
        DEPOSIT = "deposit"
        INSTORE_PAYMENT = "instore_payment"
        TRADEIN = "tradein"
        PROMOTIONAL_PURCHASE = "promotional_purchase"
        REGULAR_PURCHASE = "regular_purchase"

    class SecurityQuestion(BaseModel):
        model_config = frozen
        id: int
        text: str | None = None

    class OfferType(BaseModel):
        model_config = frozen
        plan_id: int
        plan_name: str | None = None
        offer_category: Union[OfferCategory, str, None] = code()  # noqa: UP007
        term_options: tuple[int, ...] = Field(
            default=(), validation_alias=AliasChoices("term_options", "terms_options")
        )

    class CustomerProfile(BaseModel):
        model_config = frozen
        account_number: int
        customer_id: str | None = None
        available_credit: Decimal | None = None
        security_question: SecurityQuestion | None = Field(
            default=None, validation_alias=AliasChoices("security_question", "security_qid")
        )
        email: str | None = None
        phone_number: str | None = None
        address_1: str | None = None
        address_2: str | None = None
        city: str | None = None
        postal_code: str | None = None
        province: Union[Province, str, None] = code()  # noqa: UP007
        payment_protection: bool | None = None
        risk_rating: Union[RiskRating, str, None] = code()  # noqa: UP007
        offer_types: tuple[OfferType, ...] = ()
        card_ending_in: str | None = None
        preferred_language: str | None = None

    class AnnualRate(BaseModel):
        model_config = frozen
        description: str | None = None
        rate: Decimal | None = None
        type: str | None = None
        message: str | None = None

    class Capture(BaseModel):
        model_config = frozen
        capture_id: int
        authorization_id: int | None = None
        account_number: int | None = None
        reference: str | None = None
        date: datetime | None = Field(
            default=None, validation_alias=AliasChoices("date", "creation_date", "created_at")
        )
        amount: Decimal | None = None
        remaining_authorization_amount: Decimal | None = None
        remaining_capture_amount: Decimal | None = None
        returned_amount: Decimal | None = None
        external_location_id: str | None = None
        message: str | None = None

    class Authorization(BaseModel):
        model_config = frozen
        authorization_id: int
        account_number: int | None = None
        vcc_number: str | None = None
        reference: str | None = None
        authorization_status: Union[AuthorizationStatus, str, None] = code(  # noqa: UP007
            AliasChoices("authorization_status", "status")
        )
        transaction_type: Union[TransactionType, str, None] = code()  # noqa: UP007
        plan_id: int | None = None
        term: int | None = None
        amount: Decimal | None = None
        captured_amount: Decimal | None = None
        released_amount: Decimal | None = None
        returned_amount: Decimal | None = None
        remaining_authorization_amount: Decimal | None = Field(
            default=None,
            validation_alias=AliasChoices("remaining_authorization_amount", "remaining_amount"),
        )
        creation_date: datetime | None = Field(
            default=None, validation_alias=AliasChoices("creation_date", "created_at", "date")
        )
        external_location_id: str | None = None
        external_employee_id: str | None = None
        auto_capture: bool | None = None
        capture_id: int | None = None
        captures: tuple[Capture, ...] = ()
        annual_rates: AnnualRate | None = None
        apr: Decimal | None = None

    return {"CustomerProfile": CustomerProfile, "Authorization": Authorization}


#: Methods that start from decoded dicts (the others from JSON bytes).
_DICTS_IN = frozenset({"flexiti structure", "pydantic validate"})


def _payloads(model: str, n: int) -> list[bytes]:
    make = lookup_payload if model == "CustomerProfile" else authorization_payload
    data = []
    for i in range(n):
        payload = make(i)
        if model == "CustomerProfile":
            payload["customer_id"] = str(payload["customer_id"])  # pydantic: no int -> str
        data.append(json.dumps(payload).encode())
    return data


def _time(fn: Callable[[Any], Any], inputs: list[Any]) -> float:
    gc.collect()
    started = time.perf_counter()
    for item in inputs:
        fn(item)
    return time.perf_counter() - started


async def run(ctx: Context, server: object = None) -> dict[str, Any]:
    from flexiti_async import _converter
    from flexiti_async.models.authorizations import Authorization
    from flexiti_async.models.customers import CustomerProfile

    n = ctx.n(10_000, 2_000)
    rounds = ctx.rounds_or(7, 3)
    ours = {"CustomerProfile": CustomerProfile, "Authorization": Authorization}
    theirs = _pydantic_models()
    loads, structure = _converter.loads, _converter.structure
    rows = []
    ratios: dict[str, float] = {}
    samples: dict[str, dict[str, list[float]]] = {}
    for model in ours:
        raw = _payloads(model, n)
        decoded = [loads(b) for b in raw]
        plain = [json.loads(b) for b in raw]
        assert decoded == plain  # the dict-in pair starts from equal input
        cls, pmodel = ours[model], theirs[model]
        # Sanity: both sides accept every payload and agree on a value.
        assert (
            structure(decoded[7], cls).account_number
            == pmodel.model_validate_json(raw[7]).account_number
        )  # type: ignore[attr-defined]
        methods: dict[str, tuple[Callable[[Any], Any], list[Any]]] = {
            "json.loads": (json.loads, raw),
            "flexiti loads": (loads, raw),
            "flexiti loads+structure": (lambda b, cls=cls: structure(loads(b), cls), raw),
            "flexiti structure": (lambda d, cls=cls: structure(d, cls), decoded),
            "pydantic validate_json": (pmodel.model_validate_json, raw),
            "pydantic validate": (pmodel.model_validate, plain),
        }
        for fn, inputs in methods.values():  # warm-up: build cattrs/pydantic validators
            for item in inputs[:200]:
                fn(item)
        times: dict[str, list[float]] = {name: [] for name in methods}
        for _, name in interleaved(list(methods), rounds):
            fn, inputs = methods[name]
            times[name].append(_time(fn, inputs))
        samples[model] = times
        med = {name: median(values) for name, values in times.items()}
        full = median(
            a / b
            for a, b in zip(
                times["flexiti loads+structure"], times["pydantic validate_json"], strict=True
            )
        )
        struct = median(
            a / b
            for a, b in zip(times["flexiti structure"], times["pydantic validate"], strict=True)
        )
        ratios[f"{model}: flexiti loads+structure / pydantic validate_json"] = full
        ratios[f"{model}: flexiti structure / pydantic validate"] = struct
        for name in methods:
            per_item = med[name] / n
            # Against pydantic from the same input: bytes, or decoded dicts.
            same_input = "pydantic validate" if name in _DICTS_IN else "pydantic validate_json"
            rows.append(
                [
                    model,
                    name,
                    f"{per_item * 1e6:.1f} µs",
                    f"{n / med[name]:,.0f}/s",
                    fmt_ratio(med[name] / med["json.loads"]),
                    fmt_ratio(med[name] / med[same_input]),
                ]
            )
    table = markdown_table(
        [
            "model",
            "method",
            "per payload",
            "payloads/s",
            "vs json.loads",
            "vs pydantic (same input)",
        ],
        rows,
    )
    verdict_rows = [
        [name, fmt_ratio(value), "met" if value <= 1.0 else "missed"]
        for name, value in ratios.items()
    ]
    verdicts = markdown_table(["ratio (time)", "median", "target <= 1.00x"], verdict_rows)
    return {
        "title": TITLE,
        "text": f"{n:,} payloads, {rounds} interleaved rounds.\n\n{table}\n\n{verdicts}",
        "ratios": ratios,
        "rounds": rounds,
        "samples": samples,
    }
