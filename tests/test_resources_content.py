"""content.terms_and_conditions / i18n: undocumented GETs returning decoded JSON."""

from __future__ import annotations

from decimal import Decimal

import pytest

from flexiti_async import errors
from tests._resources import (
    GLOBAL_ERRORS,
    api_with,
    assert_no_io,
    assert_wire,
    check_error,
    only_request,
)

pytestmark = pytest.mark.anyio

# ------------------------------------------------------------------ content


@pytest.mark.parametrize(
    ("method", "path"), [("terms_and_conditions", "terms-and-conditions"), ("i18n", "i18n")]
)
async def test_content_wire_and_decoded_json(method: str, path: str) -> None:
    api = api_with({"text": "bonjour", "version": 1.5})
    async with api.client(lang="en") as flexiti:
        result = await getattr(flexiti.content, method)(lang="fr")
        await getattr(flexiti.content, method)()
    first, second = api.api_requests
    assert_wire(first, "GET", path, params={"lang": "fr"})
    assert_wire(second, "GET", path, params={"lang": "en"})
    assert result == {"text": "bonjour", "version": Decimal("1.5")}


@pytest.mark.parametrize("method", ["terms_and_conditions", "i18n"])
async def test_content_without_lang_sends_no_query(method: str) -> None:
    api = api_with(["any", "json"])
    async with api.client() as flexiti:
        assert await getattr(flexiti.content, method)() == ["any", "json"]
    assert only_request(api).url.query == b""


@pytest.mark.parametrize("method", ["terms_and_conditions", "i18n"])
async def test_content_lang_validation(method: str) -> None:
    api = api_with({})
    async with api.client() as flexiti:
        with pytest.raises(errors.InvalidRequestError):
            await getattr(flexiti.content, method)(lang="english")
    assert_no_io(api)


@pytest.mark.parametrize(("status", "code", "cls"), GLOBAL_ERRORS)
@pytest.mark.parametrize("method", ["terms_and_conditions", "i18n"])
async def test_content_errors(
    method: str, status: int, code: str | None, cls: type[Exception]
) -> None:
    await check_error(lambda f: getattr(f.content, method)(), status, code, cls)
