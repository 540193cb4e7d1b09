"""merchants.login: deprecated (DeprecationWarning), still wired."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from flexiti_async import errors
from tests._resources import (
    GLOBAL_ERRORS,
    api_with,
    assert_no_io,
    assert_wire,
    check_error,
    fixture_bytes,
    only_request,
)

pytestmark = pytest.mark.anyio

# ------------------------------------------------------------------ merchants.login


async def test_login_warns_and_parses() -> None:
    api = api_with(fixture_bytes("merchants_login.json"))
    async with api.client() as flexiti:
        with pytest.warns(DeprecationWarning, match="deprecated") as record:
            login = await flexiti.merchants.login(
                merchant_username="rep1", merchant_password="pa55word", lang="fr"
            )
    assert record[0].filename == __file__  # stacklevel=2: points at the caller
    assert_wire(
        only_request(api),
        "POST",
        "merchants/login",
        params={"lang": "fr"},
        body=b'{"merchant_password":"pa55word","merchant_username":"rep1"}',
    )
    assert login.merchant_id == "100"
    assert login.options("province")["ON"] == "<label>"


async def test_login_without_credentials_sends_an_empty_body() -> None:
    api = api_with(fixture_bytes("merchants_login.json"))
    async with api.client() as flexiti:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            await flexiti.merchants.login()
    assert_wire(only_request(api), "POST", "merchants/login", body=b"{}")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize(
    "kwargs",
    [
        {"merchant_username": "rep1"},
        {"merchant_password": "pa55word"},
        {"merchant_username": "", "merchant_password": "pa55word"},
        {"merchant_username": "rep1", "merchant_password": ""},
        {"merchant_username": "rep1", "merchant_password": "p" * 101},
        {"lang": "es"},
    ],
)
async def test_login_validation_never_echoes_the_password(kwargs: dict[str, Any]) -> None:
    api = api_with({})
    async with api.client() as flexiti:
        with pytest.raises(errors.InvalidRequestError) as caught:
            await flexiti.merchants.login(**kwargs)
    assert "pa55word" not in str(caught.value)
    assert_no_io(api)


LOGIN_ERRORS = [(409, "authentication_failure", errors.NotPermittedError), *GLOBAL_ERRORS]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize(("status", "code", "cls"), LOGIN_ERRORS)
async def test_login_errors(status: int, code: str | None, cls: type[Exception]) -> None:
    await check_error(lambda f: f.merchants.login(), status, code, cls)
