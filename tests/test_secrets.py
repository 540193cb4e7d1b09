"""No secret ever reaches a log record, a repr or an exception's text.

A full flow suite (the in-store and online examples, plus error paths: wrong PIN, wrong
security answer, 401 revocation, 5xx, dropped connections, malformed JSON, invalid arguments
that contain card numbers, the escape hatch, bad credentials) runs against the sandbox, in
process and over loopback sockets, with DEBUG logging on for every logger. Everything that
could carry a secret is rendered to text and scanned for every secret the run used: the client
secret, every access and refresh token the sandbox issued, full card numbers, PINs, security
answers, the driver's licence payload and the merchant password.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
import traceback
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("starlette")

import flexiti_async
from flexiti_async import FlexitiClient, RedactingFilter, RetryPolicy, errors
from flexiti_async.models import FinancingOption, Location, TransactionType, VerifyFormat
from flexiti_async.testing import Fault, FlexitiSandbox
from tests._mock_api import CARD, CLIENT_SECRET, MockAPI

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LOGGERS = ("", "flexiti_async", "httpx", "httpcore", "asyncio", "uvicorn", "tests.secrets")

# Distinctive secret values the suite plants itself (besides what the sandbox generates).
SECURITY_ANSWER = "Periwinkle-Otter-4471"
WRONG_ANSWER = "Wrong-Answer-Magenta-9912"
WRONG_SECRET = "wrong-client-secret-7f3a9c51e2"
WRONG_PASSWORD = "Hunter2-Wrong-Merchant-Pass"
LICENCE_MARKER = "ZZQ-LICENCE-PAYLOAD-8f2e41"
LICENCE = (
    "@\n\x1e\rANSI 636012090002DL00410278ZO03190008DL\n"
    f"DAQD1234-56789-01234\nDCSLICENSEE\nDACJANE\nDBB19800517\nDBA20300517\nDAJON\n{LICENCE_MARKER}"
)
BAD_LICENCE = f"@\nANSI 636012\nDAQD9876-54321\n{LICENCE_MARKER}-BAD"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ evidence


class Capture(logging.Handler):
    """Renders every record when it is emitted: message, raw msg, args, exc_info, stack."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.texts: list[str] = []
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.names.add(record.name)
        self.texts.append(self.format(record))  # includes the formatted exc_info
        self.texts.append(str(record.msg))
        self.texts.append(repr(record.args))
        if record.exc_info and record.exc_info[1] is not None:
            self.texts.append("".join(traceback.format_exception(record.exc_info[1])))
        if record.stack_info:
            self.texts.append(record.stack_info)


@pytest.fixture
def captured() -> Iterator[Capture]:
    """DEBUG on the root logger and every logger of interest; one handler on the root."""
    handler = Capture()
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def exception_texts(exc: BaseException, *, response_body: bool = True) -> Iterator[str]:
    """Everything an exception shows: str, repr, notes, the chain, and what it carries.

    ``response_body``: include ``exc.response.text`` (the bytes the server sent, kept as
    received; the decoded ``exc.body`` is the redacted copy)."""
    yield "".join(traceback.format_exception(exc))
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield from getattr(current, "__notes__", ())
        for attr in ("message", "description", "raw_code", "body", "field_errors", "args"):
            if hasattr(current, attr):
                yield repr(getattr(current, attr))
        response = getattr(current, "response", None)
        if isinstance(response, httpx.Response):
            yield repr(response)
            if response_body:
                yield response.text
            request = response.request
            yield repr(request)
            yield str(request.url)
            yield repr(list(request.headers.multi_items()))
            yield request.content.decode("utf-8", "replace")
        current = current.__cause__ or current.__context__


class Evidence:
    """Text to scan, and the outcome of every call of the suite."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.outcomes: dict[str, object] = {}
        self.log = logging.getLogger("tests.secrets")

    def value(self, value: object) -> None:
        self.texts.append(repr(value))
        self.texts.append(str(value))
        for item in value if isinstance(value, (list, tuple)) else ():
            self.texts.append(repr(item))

    def error(self, exc: BaseException) -> None:
        self.texts.extend(exception_texts(exc))
        # As an application would log it: the handler renders exc_info.
        self.log.error("flow step failed: %s", exc, exc_info=exc)

    async def call(
        self,
        name: str,
        awaitable: Awaitable[Any],
        expect: type[BaseException] | None = None,
        *,
        maybe: bool = False,
    ) -> Any:
        try:
            result = await awaitable
        except errors.FlexitiError as exc:
            self.error(exc)
            self.outcomes[name] = exc
            if maybe:
                return None
            if expect is None or not isinstance(exc, expect):
                raise AssertionError(f"{name}: unexpected {exc!r}") from exc
            return None
        self.value(result)
        self.outcomes[name] = result
        assert expect is None, f"{name}: expected {expect.__name__}, got {result!r}"
        return result


# ------------------------------------------------------------------ the suite


@asynccontextmanager
async def connected(sandbox: FlexitiSandbox, mode: str, **kwargs: Any) -> AsyncIterator[str]:
    """The sandbox's base URL, in process or over loopback sockets."""
    if mode == "loopback":
        async with sandbox.serve() as base_url:
            yield base_url
    else:
        yield sandbox.base_url


def make_client(
    sandbox: FlexitiSandbox,
    mode: str,
    base_url: str,
    secret: str | None = None,
    telemetry: Any = False,
) -> FlexitiClient:
    http = sandbox.http_client() if mode == "in-process" else None
    return FlexitiClient(
        sandbox.client_id,
        secret or sandbox.client_secret,
        base_url=base_url,
        http_client=http,
        retry_policy=RetryPolicy(max_retries=2, backoff_base=0.0),
        telemetry=telemetry,
    )


def exported_telemetry() -> tuple[Any, Callable[[], list[str]]]:
    """Telemetry into the OpenTelemetry SDK's in-memory exporter and reader, and a function
    rendering everything they exported (names, attributes, events, statuses) as text."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics = InMemoryMetricReader()
    telemetry = flexiti_async.Telemetry(tracer_provider, MeterProvider(metric_readers=[metrics]))

    def texts() -> list[str]:
        found = []
        for span in spans.get_finished_spans():
            found.append(f"span {span.name} {dict(span.attributes or {})!r} {span.status!r}")
            found.extend(f"event {e.name} {dict(e.attributes or {})!r}" for e in span.events)
        data = metrics.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.extend(
                        f"metric {metric.name} {dict(point.attributes or {})!r}"
                        for point in metric.data.data_points
                    )
        return found

    return telemetry, texts


async def run_suite(
    sandbox: FlexitiSandbox, flexiti: FlexitiClient, ev: Evidence, pins: set[str]
) -> None:
    instore, online = load("instore_flow"), load("online_flow")
    store = sandbox.stores[0].external_location_id
    employee = "12345-SMITH"
    first = sandbox.find_account(status="N")
    second = sandbox.find_account(status="N", province="BC")
    special = sandbox.add_account(status="N", security_answer=SECURITY_ANSWER, cards=1)
    ev.value(flexiti)
    ev.value(flexiti.token_manager)

    async def read_pin(account_number: int) -> str:
        pin = str(sandbox.last_pin(account_number))
        pins.add(pin)
        return pin

    # --- the README flows
    ev.value(
        await instore.instore_purchase(
            flexiti,
            account_number=first.account_number,
            amount=Decimal("1200.00"),
            till=Location(external_location_id=store, external_employee_id=employee),
            order_id="ORDER-1001",
            ask_for_pin=read_pin,
        )
    )
    ev.value(await online.open_checkout(flexiti, account_number=second.account_number))
    ev.value(
        await online.complete_order(
            flexiti,
            account_number=second.account_number,
            amount=Decimal("249.99"),
            order_id="WEB-2002",
        )
    )

    # --- card numbers in the query string (customers/lookup?vcc_number=...)
    for account in (first, second, special):
        for card in account.vccs:
            await ev.call(f"lookup {card[-4:]}", flexiti.customers.lookup(vcc_number=card))
    await ev.call(
        "escape hatch GET with a card",
        flexiti.request("GET", "customers/lookup", params={"vcc_number": special.vccs[0]}),
    )

    # --- security question: the PIN comes back in the body
    profile = await ev.call(
        "lookup special", flexiti.customers.lookup(account_number=special.account_number)
    )
    qid = profile.security_question.id if profile.security_question else 6
    request_id = uuid.uuid4().hex
    verification = await ev.call(
        "verify with the right answer",
        flexiti.accounts.verify(
            special.account_number,
            format=VerifyFormat.SECURITY_QUESTION,
            request_id=request_id,
            security_qid=qid,
            security_answer=SECURITY_ANSWER,
        ),
    )
    assert verification.verification_code is not None
    pins.add(str(verification.verification_code))
    await ev.call(
        "authorize with the PIN",
        flexiti.authorizations.create(
            account_number=special.account_number,
            amount=Decimal("10.00"),
            financing_option=FinancingOption(transaction_type=TransactionType.REGULAR_PURCHASE),
            verification_code=verification.verification_code,
            request_id=request_id,
            external_location_id=store,
            external_employee_id=employee,
            vcc_number=special.vccs[0],
        ),
    )
    await ev.call(
        "verify with a wrong answer",
        flexiti.accounts.verify(
            special.account_number,
            format=VerifyFormat.SECURITY_QUESTION,
            request_id=uuid.uuid4().hex,
            security_qid=qid,
            security_answer=WRONG_ANSWER,
        ),
        errors.VerificationError,
    )

    # --- wrong PIN
    request_id = uuid.uuid4().hex
    await ev.call(
        "verify by sms",
        flexiti.accounts.verify(first.account_number, format="sms", request_id=request_id),
    )
    pin = int(await read_pin(first.account_number))
    wrong_pin = 1000 + (pin - 1000 + 4321) % 9000
    pins.add(str(wrong_pin))
    await ev.call(
        "authorize with a wrong PIN",
        flexiti.authorizations.create(
            account_number=first.account_number,
            amount=Decimal("10.00"),
            financing_option=FinancingOption(transaction_type=TransactionType.REGULAR_PURCHASE),
            verification_code=wrong_pin,
            request_id=request_id,
            external_location_id=store,
            external_employee_id=employee,
        ),
        errors.VerificationError,
    )
    await ev.call(
        "deposit with the right PIN",
        flexiti.transactions.create(
            transaction_type="deposit",
            amount=Decimal("20.00"),
            verification_code=pin,
            account_number=first.account_number,
            request_id=request_id,
            external_location_id=store,
            external_employee_id=employee,
        ),
        maybe=True,  # whatever the sandbox's rules say after a wrong PIN: the text matters
    )
    # A card that belongs to another account: 409 vcc_account_mismatch.
    await ev.call(
        "authorize with someone else's card",
        flexiti.authorizations.create(
            account_number=first.account_number,
            amount=Decimal("10.00"),
            financing_option=FinancingOption(transaction_type=TransactionType.REGULAR_PURCHASE),
            vcc_number=second.vccs[0],
        ),
        errors.ConflictError,
    )

    # --- driver's licence payloads
    await ev.call("decode a licence", flexiti.customers.decode_drivers_license(code=LICENCE))
    await ev.call(
        "decode a bad licence",
        flexiti.customers.decode_drivers_license(code=BAD_LICENCE),
        errors.APIStatusError,
    )

    # --- the deprecated merchant login with a wrong password
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        await ev.call(
            "merchant login, wrong password",
            flexiti.merchants.login(merchant_username="clerk", merchant_password=WRONG_PASSWORD),
            errors.NotPermittedError,
        )

    # --- 401: revoked tokens are replaced and the call replayed; a stubborn 401 raises
    sandbox.revoke_tokens()
    await ev.call("lookup after revocation", flexiti.customers.lookup(vcc_number=first.vccs[0]))
    sandbox.faults.add(route="lookup", fault=Fault.status(401, error="invalid_token"), times=2)
    await ev.call(
        "lookup with two 401s",
        flexiti.customers.lookup(vcc_number=first.vccs[0]),
        errors.AuthenticationError,
    )
    sandbox.faults.add(route="capture", fault=Fault.revoke_tokens(), times=1)

    # --- 5xx
    sandbox.faults.add(route="lookup", fault=Fault.status(503), times=1)
    await ev.call("lookup after a 503", flexiti.customers.lookup(vcc_number=second.vccs[0]))
    sandbox.faults.add(route="lookup", fault=Fault.html_error(502), times=3)
    await ev.call(
        "lookup through 502 pages",
        flexiti.customers.lookup(vcc_number=second.vccs[0]),
        errors.ServerError,
    )
    sandbox.faults.add(route="authorize", fault=Fault.status(500), times=1)
    await ev.call(
        "authorize meets a 500",
        flexiti.authorizations.create(
            account_number=second.account_number,
            amount=Decimal("5.00"),
            financing_option=FinancingOption(transaction_type=TransactionType.REGULAR_PURCHASE),
            vcc_number=second.vccs[0],
        ),
        errors.ServerError,
    )

    # --- dropped connections
    auth = await ev.call(
        "authorize to capture",
        flexiti.authorizations.create(
            account_number=second.account_number,
            amount=Decimal("30.00"),
            financing_option=FinancingOption(transaction_type=TransactionType.REGULAR_PURCHASE),
            vcc_number=second.vccs[0],
        ),
    )
    sandbox.faults.add(route="capture", fault=Fault.drop_after(), times=1)
    await ev.call(
        "capture, connection dropped",
        flexiti.authorizations.capture(auth.authorization_id, amount=Decimal("10.00")),
        errors.OutcomeUnknownError,
    )
    sandbox.faults.add(route="lookup", fault=Fault.drop_before(), times=3)
    await ev.call(
        "lookup, connection dropped every time",
        flexiti.customers.lookup(vcc_number=second.vccs[0]),
        errors.APIConnectionError,
    )

    # --- malformed JSON
    sandbox.faults.add(route="lookup", fault=Fault.malformed_json(), times=1)
    await ev.call("lookup after bad JSON", flexiti.customers.lookup(vcc_number=first.vccs[0]))
    sandbox.faults.add(route="authorize", fault=Fault.malformed_json(), times=1)
    await ev.call(
        "authorize answered with bad JSON",
        flexiti.authorizations.create(
            account_number=second.account_number,
            amount=Decimal("7.00"),
            financing_option=FinancingOption(transaction_type=TransactionType.REGULAR_PURCHASE),
            vcc_number=second.vccs[0],
        ),
        errors.ResponseValidationError,
    )

    # --- invalid arguments that contain card numbers: refused before any I/O
    card = first.vccs[0]
    invalid: dict[str, Awaitable[Any]] = {
        "15-digit card": flexiti.customers.lookup(vcc_number=card[:-1]),
        "17-digit card": flexiti.customers.lookup(vcc_number=card + "7"),
        "card as account number": flexiti.customers.lookup(account_number=card),
        "card and account": flexiti.customers.lookup(account_number=1, vcc_number=card),
        "card as PIN": flexiti.transactions.create(
            transaction_type="deposit",
            amount=Decimal("1.00"),
            verification_code=card,
            account_number=first.account_number,
            request_id="r",
            external_location_id=store,
            external_employee_id=employee,
        ),
        "letters in a card": flexiti.widget.init(flow="purchase", vcc_number="abcd" + card[4:]),
        "card in a too-long answer": flexiti.accounts.verify(
            first.account_number,
            format=VerifyFormat.SECURITY_QUESTION,
            request_id="r",
            security_qid=6,
            security_answer=card * 4,
        ),
        "card in a refund": flexiti.accounts.refund(
            first.account_number, amount=Decimal("1.00"), vcc_number=card + "0"
        ),
        "card in a float amount": flexiti.authorizations.create(
            account_number=first.account_number,
            amount=float(card),  # type: ignore[arg-type]
            financing_option=FinancingOption(transaction_type=TransactionType.REGULAR_PURCHASE),
        ),
    }
    for name, awaitable in invalid.items():
        await ev.call(name, awaitable, errors.InvalidRequestError)
    # A card-like customer id is valid syntax: it is sent, and not found.
    await ev.call(
        "card as customer id", flexiti.customers.lookup(customer_id=card), errors.NotFoundError
    )
    # The escape hatch: secrets in the body of a POST to an unknown endpoint.
    await ev.call(
        "escape hatch POST with secrets",
        flexiti.request(
            "POST",
            "no/such/endpoint",
            json={
                "vcc_number": card,
                "verification_code": wrong_pin,
                "security_answer": SECURITY_ANSWER,
                "code": LICENCE,
            },
            params={"vcc_number": card},
        ),
        errors.NotFoundError,
    )

    # --- history listings
    async for item in flexiti.authorizations.list(account_number=second.account_number):
        ev.value(item)
    async for item in flexiti.captures.list(account_number=first.account_number):
        ev.value(item)


@pytest.mark.parametrize("mode", ["in-process", "loopback"])
async def test_full_flow_suite_leaks_no_secret(
    mode: str, captured: Capture, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox = FlexitiSandbox(seed=1, strict=False)  # the examples skip the widget step
    ev = Evidence()
    pins: set[str] = set()
    telemetry, exported = exported_telemetry()
    async with connected(sandbox, mode) as base_url:
        flexiti = make_client(sandbox, mode, base_url, telemetry=telemetry)
        async with flexiti:
            await run_suite(sandbox, flexiti, ev, pins)
            manager_token = flexiti.token_manager.current
            ev.value(flexiti)
        # Bad credentials: the wrong secret is not echoed either.
        wrong = make_client(sandbox, mode, base_url, secret=WRONG_SECRET, telemetry=telemetry)
        async with wrong:
            await ev.call(
                "wrong client secret",
                wrong.customers.lookup(account_number=1),
                errors.AuthenticationError,
            )
    out = capsys.readouterr()

    world = sandbox._env.world  # the tokens the sandbox issued (no public accessor)
    tokens = set(world.tokens)
    tokens |= {token.refresh_token for token in world.tokens.values()}
    assert manager_token is not None
    tokens |= {manager_token.value, manager_token.refresh_token or ""}
    tokens.discard("")
    assert len(tokens) >= 6, "expected several grants (revocation, customer scope)"
    cards = {card for account in sandbox.accounts for card in account.vccs}
    secrets: dict[str, set[str]] = {
        "client secret": {sandbox.client_secret, WRONG_SECRET},
        "token": tokens,
        "card": cards,
        "security answer": {SECURITY_ANSWER, WRONG_ANSWER},
        "licence payload": {LICENCE, BAD_LICENCE, LICENCE_MARKER},
        "merchant password": {WRONG_PASSWORD},
    }
    assert len(pins) >= 3

    spans_and_metrics = exported()
    texts = captured.texts + ev.texts + [out.out, out.err] + spans_and_metrics
    # The scan covers what we meant it to cover.
    assert {"flexiti_async", "tests.secrets"} <= captured.names
    if mode == "loopback":
        # The client's own transport: httpcore's connection/h11 records, not httpx's
        # "HTTP Request:" line (those requests do not pass through AsyncClient.send).
        assert any(name.startswith("httpcore") for name in captured.names)
    else:
        assert "httpx" in captured.names  # an injected client: httpx's request lines
    assert any("customers/lookup" in t for t in captured.texts)
    assert sum(isinstance(o, errors.FlexitiError) for o in ev.outcomes.values()) >= 20
    assert sum(text.startswith("span flexiti ") for text in spans_and_metrics) >= 40
    assert any("flexiti.client.token.grants" in text for text in spans_and_metrics)

    leaks: list[str] = []
    for text in texts:
        for kind, values in secrets.items():
            for value in values:
                if value and value in text:
                    leaks.append(f"{kind} in: {text[:300]!r}")
        for pin in pins:
            # PINs are 4 digits: match them as a whole number, not inside ids or amounts.
            if re.search(rf"(?<![\w.]){pin}(?![\w.])", text):
                leaks.append(f"PIN {pin} in: {text[:300]!r}")
    assert not leaks, "\n".join(sorted(set(leaks))[:40])


# ------------------------------------------------------------------ focused checks


async def test_httpx_request_log_line_masks_the_card_in_the_lookup_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """httpx logs every request's full URL at INFO: the library's filter on the ``httpx``
    logger masks card numbers and secret query values in it."""
    api = MockAPI()
    caplog.set_level(logging.INFO, logger="httpx")
    async with api.client() as flexiti:
        await flexiti.customers.lookup(vcc_number=CARD)
        await flexiti.request("GET", "custom", params={"verification_code": "4321", "x": "1"})
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("vcc_number=************4444" in line for line in lines), lines
    assert any("verification_code=<redacted>" in line and "x=1" in line for line in lines)
    text = "\n".join(lines) + repr([r.args for r in caplog.records])
    assert CARD not in text
    assert "4321" not in text


def test_the_httpx_filter_is_installed_once() -> None:
    httpx_logger = logging.getLogger("httpx")
    FlexitiClient("a", "b")
    FlexitiClient("c", "d")
    flexiti_async.install_httpx_log_filter()
    flexiti_async.install_httpx_log_filter()
    installed = [f for f in httpx_logger.filters if isinstance(f, RedactingFilter)]
    assert len(installed) == 1


def test_importing_leaves_the_httpx_logger_alone_and_an_injected_client_installs_it() -> None:
    """Only httpx's public send path logs URLs: the filter goes on when a client is given
    an http_client (or on request), never as a side effect of ``import flexiti_async``."""
    import subprocess

    script = (
        "import logging, httpx, flexiti_async\n"
        "from flexiti_async import FlexitiClient, RedactingFilter\n"
        "count = lambda: sum(isinstance(f, RedactingFilter) "
        "for f in logging.getLogger('httpx').filters)\n"
        "assert count() == 0, 'installed at import'\n"
        "FlexitiClient('a', 'b', base_url='http://127.0.0.1:9')\n"
        "assert count() == 0, 'installed for the own transport'\n"
        "FlexitiClient('a', 'b', base_url='http://127.0.0.1:9', http_client=httpx.AsyncClient())\n"
        "assert count() == 1, 'not installed for an injected client'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_redacting_filter_on_a_user_handler() -> None:
    """The public filter, attached to any handler: message, args, exc_info and stack."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("tests.secrets.user")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("paid with %s", CARD)
        log.warning("GET /x?vcc_number=%s&verification_code=1234&ok=1", CARD)
        log.warning("header Authorization: Bearer abc.def-ghi")
        try:
            raise ValueError(f"card {CARD} refused")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    text = "\n".join(records)
    assert CARD not in text
    assert "1234&" not in text
    assert "abc.def-ghi" not in text
    assert "************4444" in text
    assert "ok=1" in text
    assert "ValueError" in text  # the traceback is kept, only redacted


async def test_exception_response_request_is_sanitized() -> None:
    """``exc.response.request``: URL query masked, bearer token and body gone."""
    api = MockAPI()
    api.default = lambda r: httpx.Response(
        409,
        json={
            "error": "wrong_inputs",
            "message": "Some inputs are wrong!",
            "field_errors": [
                {"param": "vcc_number", "msg": "invalid", "value": CARD},
                {"param": "security_answer", "msg": "invalid", "value": SECURITY_ANSWER},
            ],
        },
    )
    async with api.client() as flexiti:
        with pytest.raises(errors.InputValidationError) as lookup:
            await flexiti.customers.lookup(vcc_number=CARD)
        with pytest.raises(errors.InputValidationError) as hatch:
            await flexiti.request(
                "POST",
                "custom",
                json={"verification_code": 4321, "security_answer": SECURITY_ANSWER},
                params={"verification_code": "4321"},
            )
        token = flexiti.token_manager.current
    assert token is not None
    for exc in (lookup.value, hatch.value):
        # exc.response.content is what the server sent (here: an echo of the card), as
        # received; everything else, exc.body included, is redacted.
        text = "\n".join(exception_texts(exc, response_body=False))
        for secret in (CARD, SECURITY_ANSWER, token.value, CLIENT_SECRET, "4321"):
            assert secret not in text, (secret, text)
        assert exc.response is not None
        assert exc.response.request.headers["authorization"] == "Bearer <redacted>"
    assert lookup.value.response is not None
    assert "vcc_number=************4444" in str(lookup.value.response.request.url)
    assert lookup.value.response.request.content == b""
    assert lookup.value.body["field_errors"][0]["value"] == "************4444"
    assert lookup.value.body["field_errors"][1]["value"] == "<redacted>"
    # What was sent is untouched: the redaction is of the exception's copy only.
    assert CARD in str(api.api_requests[0].url)
