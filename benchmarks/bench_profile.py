"""Profiling pass over the overhead scenario (issue 7, item 3).

Three views of what one ``customers.lookup`` costs on the client side:

1. Client CPU per call without a network: flexiti and raw httpx on the same in-memory
   ``httpx.MockTransport`` (sequential), so the difference is pure pipeline overhead.
2. cProfile of the loopback overhead scenario (flexiti, c=50): time by package and the
   top functions.
3. Micro-costs of the individual pipeline steps (µs per call), to turn the profile into
   concrete, sized suggestions.
"""

from __future__ import annotations

import cProfile
import gc
import json
import logging
import os
import pstats
import time
import timeit
import urllib.parse
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

from ._harness import Context, drive, fmt_ratio, interleaved, markdown_table, median
from ._payloads import CLIENT_ID, CLIENT_SECRET, LOOKUP_BODY, token_body
from ._server import ServerProcess

NAME = "profile"
TITLE = "Profile: where a flexiti customers.lookup spends client CPU"

_MOCK_BASE = "http://127.0.0.1:9/flexiti/pos-api"
_TOKEN = token_body(1, ttl=1200)
_LOOKUP = f"/v2.5/client-id/{CLIENT_ID}/customers/lookup"


def _mock_handler(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/oauth/token"):
        return httpx.Response(200, content=_TOKEN, headers={"content-type": "application/json"})
    return httpx.Response(200, content=LOOKUP_BODY, headers={"content-type": "application/json"})


async def _sequential(call: Callable[[], Awaitable[Any]], n: int) -> float:
    gc.collect()
    started = time.perf_counter()
    for _ in range(n):
        await call()
    return (time.perf_counter() - started) / n


async def _mock_costs(n: int, rounds: int) -> dict[str, list[float]]:
    from flexiti_async import FlexitiClient

    transport = httpx.MockTransport(_mock_handler)
    raw = httpx.AsyncClient(transport=transport)
    injected = httpx.AsyncClient(transport=transport)
    flexiti = FlexitiClient(CLIENT_ID, CLIENT_SECRET, base_url=_MOCK_BASE, http_client=injected)
    url = _MOCK_BASE + _LOOKUP
    headers = {"accept": "application/json", "authorization": "Bearer x", "user-agent": "b"}
    params = {"account_number": "100000001"}

    async def raw_call() -> Any:
        response = await raw.get(
            url, params=params, headers={**headers, "x-reference-id": uuid.uuid4().hex}
        )
        return json.loads(response.content)

    async def flexiti_call() -> Any:
        return await flexiti.customers.lookup(account_number=100000001)

    calls = {"httpx (raw, MockTransport)": raw_call, "flexiti (MockTransport)": flexiti_call}
    times: dict[str, list[float]] = {name: [] for name in calls}
    async with raw, injected, flexiti:
        for call in calls.values():
            await _sequential(call, 200)  # warm-up: token, cattrs hooks
        for _, name in interleaved(list(calls), rounds):
            times[name].append(await _sequential(calls[name], n))
    return times


def _package(filename: str) -> str:
    for marker in ("flexiti_async", "httpcore", "httpx", "anyio", "cattrs", "attrs", "h11"):
        if f"/{marker}/" in filename:
            return marker
    if "asyncio" in filename or "selectors" in filename:
        return "asyncio (event loop)"
    if filename.startswith("~"):
        return "builtins / C"
    if "/json/" in filename:
        return "json"
    return "other stdlib"


async def _cprofile(base_url: str, n: int) -> tuple[list[list[Any]], list[list[Any]], float]:
    from flexiti_async import FlexitiClient

    async with FlexitiClient(CLIENT_ID, CLIENT_SECRET, base_url=base_url) as client:

        def call() -> Awaitable[Any]:
            return client.customers.lookup(account_number=100000001)

        await drive(call, 200, 50, 60)  # warm-up
        profiler = cProfile.Profile()
        profiler.enable()
        await drive(call, n, 50, 120)
        profiler.disable()
    stats = pstats.Stats(profiler)
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in entries.values())
    by_package: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, tt, _, _) in entries.items():
        by_package[_package(filename)] += tt
    packages = [
        [name, f"{tt / n * 1e6:.0f} µs", f"{tt / total:.0%}"]
        for name, tt in sorted(by_package.items(), key=lambda item: -item[1])
    ]
    ours = []
    # cProfile counts every resumption of a coroutine as a call, hence "entries".
    for (filename, line, func), (cc, _, tt, ct, _) in entries.items():
        if "/flexiti_async/" in filename:
            short = filename.split("/flexiti_async/", 1)[1]
            ours.append((ct, tt, cc, f"{short}:{line} {func}"))
    ours.sort(reverse=True)
    functions = [
        [
            name,
            f"{cc / n:.1f}",
            f"{tt / n * 1e6:.1f} µs",
            f"{ct / n * 1e6:.1f} µs",
            f"{ct / total:.0%}",
        ]
        for ct, tt, cc, name in ours[:16]
    ]
    return packages, functions, total / n


async def _micro() -> list[list[str]]:
    """µs per call of the pipeline's steps (timeit, best of 5)."""
    from flexiti_async import _converter
    from flexiti_async._config import clean_params as _clean_params
    from flexiti_async._reference import new_reference_id
    from flexiti_async.models.customers import CustomerProfile
    from flexiti_async.resources._validate import check_account_number, exactly_one

    loads, profile = _converter.loads, CustomerProfile
    decoded = loads(LOOKUP_BODY)
    _converter.structure(decoded, profile)
    raw_params = {"account_number": 100000001, "lang": None}
    client = httpx.AsyncClient()
    url = _MOCK_BASE + _LOOKUP
    headers = {
        "accept": "application/json",
        "user-agent": "flexiti-async/0 httpx/0",
        "x-reference-id": "0" * 32,
        "authorization": "Bearer bench-access-00000000",
    }
    params = {"account_number": "100000001"}
    url_query = url + "?" + urllib.parse.urlencode(params)
    extensions = {"timeout": httpx.Timeout(30.0, pool=None).as_dict()}
    decoder = json.JSONDecoder(parse_float=__import__("decimal").Decimal)
    logger = logging.getLogger("flexiti_async")
    timeout = httpx.Timeout(30.0, pool=None)
    limiter = anyio.CapacityLimiter(32)

    async def limiter_cycle() -> None:
        borrower = object()
        await limiter.acquire_on_behalf_of(borrower)
        limiter.release_on_behalf_of(borrower)

    async def limiter_many(k: int) -> None:
        for _ in range(k):
            await limiter_cycle()

    structure, cattrs_structure = _converter.structure, _converter.converter.structure
    build = client.build_request

    def validate() -> int:
        given = exactly_one(account_number=100000001, vcc_number=None, customer_id=None)
        return check_account_number(given[1])

    steps: list[tuple[str, Callable[[], Any]]] = [
        ("_converter.loads(body) (json.loads, parse_float=Decimal)", lambda: loads(LOOKUP_BODY)),
        ("json.loads(body) (no hooks)", lambda: json.loads(LOOKUP_BODY)),
        (
            "cached JSONDecoder(parse_float=Decimal).decode(body.decode())",
            lambda: decoder.decode(LOOKUP_BODY.decode()),
        ),
        ("_converter.structure(dict, CustomerProfile)", lambda: structure(decoded, profile)),
        ("converter.structure (cattrs, no wrapper)", lambda: cattrs_structure(decoded, profile)),
        (
            "http.build_request(GET, url, params, headers, timeout)",
            lambda: build("GET", url, params=params, headers=headers, timeout=timeout),
        ),
        (
            "http.build_request(GET, url_with_query, headers, timeout) (query pre-encoded)",
            lambda: build("GET", url_query, headers=headers, timeout=timeout),
        ),
        (
            "httpx.Request(GET, url_with_query, headers) (no client merging)",
            lambda: httpx.Request("GET", url_query, headers=headers, extensions=extensions),
        ),
        ("new_reference_id() (uuid4().hex)", new_reference_id),
        ("os.urandom(16).hex()", lambda: os.urandom(16).hex()),
        ("_clean_params({account_number, lang=None})", lambda: _clean_params(raw_params)),
        ("exactly_one + check_account_number", validate),
        ("logger.isEnabledFor(DEBUG) (DEBUG off)", lambda: logger.isEnabledFor(logging.DEBUG)),
        ("httpx.Timeout(30.0, pool=None)", lambda: httpx.Timeout(30.0, pool=None)),
    ]
    rows = []
    for label, fn in steps:
        number = 2000
        best = min(timeit.repeat(fn, number=number, repeat=5)) / number
        rows.append([label, f"{best * 1e6:.2f} µs"])
    k = 2000
    started = time.perf_counter()
    await limiter_many(k)
    per_cycle = (time.perf_counter() - started) / k
    rows.append(["CapacityLimiter acquire+release (uncontended)", f"{per_cycle * 1e6:.2f} µs"])
    started = time.perf_counter()
    for _ in range(k):
        borrower = object()
        limiter.acquire_on_behalf_of_nowait(borrower)
        limiter.release_on_behalf_of(borrower)
    per_cycle = (time.perf_counter() - started) / k
    rows.append(["CapacityLimiter acquire_nowait+release", f"{per_cycle * 1e6:.2f} µs"])

    # One send: through AsyncClient.send (auth/redirect/cookie layers) vs the transport.
    transport = httpx.MockTransport(_mock_handler)
    mock_client = httpx.AsyncClient(transport=transport)
    request = mock_client.build_request("GET", url_query, headers=headers)

    async def via_client() -> None:
        response = await mock_client.send(request)
        await response.aread()

    async def via_transport() -> None:
        response = await transport.handle_async_request(request)
        await response.aread()

    async with mock_client:
        for label, send in (
            ("AsyncClient.send + aread (MockTransport)", via_client),
            ("transport.handle_async_request + aread (MockTransport)", via_transport),
        ):
            best = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                for _ in range(k):
                    await send()
                best = min(best, (time.perf_counter() - started) / k)
            rows.append([label, f"{best * 1e6:.2f} µs"])
    return rows


async def run(ctx: Context, server: ServerProcess) -> dict[str, Any]:
    n_mock = ctx.n(3_000, 600)
    rounds = ctx.rounds_or(5, 3)
    mock = await _mock_costs(n_mock, rounds)
    flexiti = mock["flexiti (MockTransport)"]
    raw = mock["httpx (raw, MockTransport)"]
    ratio = median(f / r for f, r in zip(flexiti, raw, strict=True))
    mock_table = markdown_table(
        ["client (no network, sequential)", "CPU per call", "ratio"],
        [
            ["httpx (raw, MockTransport)", f"{median(raw) * 1e6:.0f} µs", "1.00x"],
            ["flexiti (MockTransport)", f"{median(flexiti) * 1e6:.0f} µs", fmt_ratio(ratio)],
        ],
    )
    print(mock_table, flush=True)
    n_prof = ctx.n(3_000, 600)
    packages, functions, per_call = await _cprofile(server.base_url, n_prof)
    package_table = markdown_table(["package", "self time per call", "share"], packages)
    function_table = markdown_table(
        ["flexiti function (by cumulative)", "entries/lookup", "self", "cumulative", "share"],
        functions,
    )
    micro_table = markdown_table(["pipeline step", "cost"], await _micro())
    text = (
        f"{mock_table}\n\n"
        f"cProfile, loopback, c=50, {n_prof:,} calls: {per_call * 1e6:.0f} µs of profiled "
        f"CPU per call (cProfile inflates absolute numbers; shares are what matter).\n\n"
        f"{package_table}\n\n{function_table}\n\nMicro-costs (best of 5):\n\n{micro_table}"
    )
    return {
        "title": TITLE,
        "text": text,
        "ratios": {"flexiti/httpx client CPU per call (MockTransport)": ratio},
        "rounds": rounds,
        "samples": {"mock_seconds_per_call": mock, "packages": packages, "functions": functions},
    }
