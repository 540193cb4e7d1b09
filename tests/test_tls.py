"""TLS: verification is on by default, a custom CA works through an injected httpx client,
and plain http is refused for anything but loopback. The sandbox is served over HTTPS on
127.0.0.1 with a certificate from a throwaway ``trustme`` CA (tests/_tls.py)."""

from __future__ import annotations

import ssl
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("starlette")
pytest.importorskip("trustme")

import trustme

from flexiti_async import FlexitiClient, InMemoryTokenStore, RetryPolicy, errors
from flexiti_async.models import FinancingOption, TransactionType
from flexiti_async.testing import FlexitiSandbox
from tests._tls import client_context, serve_tls

pytestmark = pytest.mark.anyio

NO_BACKOFF = RetryPolicy(max_retries=1, backoff_base=0.0)
REGULAR = FinancingOption(transaction_type=TransactionType.REGULAR_PURCHASE)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def assert_certificate_error(exc: errors.FlexitiError, backend: str) -> None:
    """The handshake failure is a clear APIConnectionError that names the certificate."""
    assert type(exc) is errors.APIConnectionError, repr(exc)
    assert not isinstance(exc, errors.OutcomeUnknownError)
    assert exc.reference_id is not None
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in chain(exc)), chain(exc)
    text = str(exc).lower()
    assert "certificate" in text, text


async def test_untrusted_certificate_is_refused_by_default(
    ca: trustme.CA, tmp_path: Path, anyio_backend_name: str
) -> None:
    """The default client verifies: a certificate from an unknown CA fails the handshake
    with a clear APIConnectionError, and nothing reaches the server."""
    sandbox = FlexitiSandbox(seed=3, strict=False)  # bare online authorizations
    account = sandbox.find_account(status="N")
    async with serve_tls(sandbox.app, ca, tmp_path) as base_url:
        assert base_url.startswith("https://127.0.0.1:")
        async with FlexitiClient(
            sandbox.client_id, sandbox.client_secret, base_url=base_url, retry_policy=NO_BACKOFF
        ) as flexiti:
            with pytest.raises(errors.APIConnectionError) as caught:
                await flexiti.customers.lookup(account_number=account.account_number)
    assert sandbox.stats.total_requests == 0
    assert sum(sandbox.stats.token_grants.values()) == 0
    assert_certificate_error(caught.value, anyio_backend_name)


async def test_handshake_failure_on_a_state_changing_post_is_not_outcome_unknown(
    ca: trustme.CA, tmp_path: Path, anyio_backend_name: str
) -> None:
    """A failed handshake proves the request never left: an authorization POST raises
    APIConnectionError (it was even retried, safely), never OutcomeUnknownError."""
    sandbox = FlexitiSandbox(seed=3, strict=False)  # bare online authorizations
    account = sandbox.find_account(status="N")
    store = InMemoryTokenStore()  # shared, so the second client needs no token request
    async with serve_tls(sandbox.app, ca, tmp_path) as base_url:
        trusted = httpx.AsyncClient(verify=client_context(ca))
        async with FlexitiClient(
            sandbox.client_id,
            sandbox.client_secret,
            base_url=base_url,
            http_client=trusted,
            token_store=store,
        ) as good:
            await good.customers.lookup(account_number=account.account_number)
        await trusted.aclose()
        before = sandbox.stats.total_requests
        async with FlexitiClient(
            sandbox.client_id,
            sandbox.client_secret,
            base_url=base_url,
            token_store=store,
            retry_policy=NO_BACKOFF,
        ) as flexiti:
            with pytest.raises(errors.FlexitiError) as caught:
                await flexiti.authorizations.create(
                    account_number=account.account_number,
                    amount=Decimal("25.00"),
                    financing_option=REGULAR,
                    reference="TLS-1",
                )
    assert sandbox.stats.total_requests == before  # the POST never reached the server
    assert sandbox.stats.count("authorize") == 0
    assert list(sandbox.ledger) == []
    assert_certificate_error(caught.value, anyio_backend_name)


async def test_custom_ca_through_an_injected_client_works_end_to_end(
    ca: trustme.CA, tmp_path: Path
) -> None:
    """``httpx.AsyncClient(verify=ssl_context)`` with the CA: token grant and lookup over
    verified TLS."""
    sandbox = FlexitiSandbox(seed=3, strict=False)  # bare online authorizations
    account = sandbox.find_account(status="N")
    async with serve_tls(sandbox.app, ca, tmp_path) as base_url:
        http = httpx.AsyncClient(verify=client_context(ca))
        try:
            async with FlexitiClient(
                sandbox.client_id, sandbox.client_secret, base_url=base_url, http_client=http
            ) as flexiti:
                profile = await flexiti.customers.lookup(account_number=account.account_number)
                auth = await flexiti.authorizations.create(
                    account_number=account.account_number,
                    amount=Decimal("25.00"),
                    financing_option=REGULAR,
                    reference="TLS-2",
                )
            assert not http.is_closed  # injected: the caller closes it
        finally:
            await http.aclose()
    assert profile.account_number == account.account_number
    assert auth.amount == Decimal("25.00")
    assert sandbox.stats.token_grants["client_credentials"] == 1
    assert sandbox.stats.count("lookup", 200) == 1
    assert [(e.kind, e.amount) for e in sandbox.ledger] == [("authorization", Decimal("25.00"))]


@pytest.mark.parametrize("case", ["other CA", "other hostname"])
async def test_custom_ca_still_verifies_chain_and_hostname(
    ca: trustme.CA, tmp_path: Path, anyio_backend_name: str, case: str
) -> None:
    """An injected client with a custom CA refuses a certificate from another CA, and a
    certificate of the right CA that names another host."""
    sandbox = FlexitiSandbox(seed=3, strict=False)  # bare online authorizations
    if case == "other CA":
        served = serve_tls(sandbox.app, trustme.CA(), tmp_path)
    else:
        served = serve_tls(sandbox.app, ca, tmp_path, hosts=("pos.flexiti.example",))
    async with served as base_url:
        http = httpx.AsyncClient(verify=client_context(ca))
        try:
            async with FlexitiClient(
                sandbox.client_id,
                sandbox.client_secret,
                base_url=base_url,
                http_client=http,
                retry_policy=NO_BACKOFF,
            ) as flexiti:
                with pytest.raises(errors.APIConnectionError) as caught:
                    await flexiti.customers.lookup(account_number=1)
        finally:
            await http.aclose()
    assert sandbox.stats.total_requests == 0
    assert_certificate_error(caught.value, anyio_backend_name)


# ------------------------------------------------------------------ construction (sync)


@pytest.mark.parametrize(
    "url",
    [
        "http://posapi.flexiti.fi/flexiti/pos-api",
        "http://10.0.0.5/flexiti/pos-api",
        "http://192.168.1.10:8080/flexiti/pos-api",
        "http://0.0.0.0:8000/flexiti/pos-api",
        "http://127.0.0.1.nip.io/flexiti/pos-api",
        "http://127.0.0.1@evil.example/flexiti/pos-api",  # userinfo: the host is evil.example
        "http://localhost.evil.example/flexiti/pos-api",
        "http://[::ffff:10.0.0.1]/flexiti/pos-api",
        "HTTP://EXAMPLE.COM/flexiti/pos-api",
        "ws://127.0.0.1/flexiti/pos-api",
        "ftp://127.0.0.1/flexiti/pos-api",
    ],
)
def test_plain_http_to_a_non_loopback_host_is_refused_at_construction(url: str) -> None:
    with pytest.raises(errors.InvalidRequestError):
        FlexitiClient("id", "secret", base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/flexiti/pos-api",
        "http://127.8.9.10/flexiti/pos-api",
        "http://[::1]:8000/flexiti/pos-api",
        "http://localhost:8000/flexiti/pos-api",
        "https://posapi.flexiti.fi/flexiti/pos-api",
    ],
)
def test_loopback_http_and_any_https_are_accepted(url: str) -> None:
    assert FlexitiClient("id", "secret", base_url=url).base_url == url.rstrip("/")
