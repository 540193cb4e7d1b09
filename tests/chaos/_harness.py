"""The chaos harness: a seeded fault plan, a seeded mix of flows, and the end-of-run checks.

One `ChaosRun` serves a fresh `FlexitiSandbox` on 127.0.0.1, drives ``operations`` client
calls through a real `FlexitiClient` (small per-attempt timeout, admission limit well below
the number of concurrent callers) while the fault plan drops connections, answers error
statuses, stalls past the timeout, breaks JSON bodies and revokes tokens. It then clears the
faults, waits for the sandbox to finish what it was still processing, and checks:

* nothing but `FlexitiError` subclasses escaped an operation;
* no money movement was applied twice (ledger grouped by the operation's reference id, by
  its unique ``reference`` and, for transactions, by idempotency key), and every outcome
  class agrees with the ledger (ok -> applied once, typed error -> not applied, a 2xx body
  that could not be read -> applied, `OutcomeUnknownError` -> either);
* every `OutcomeUnknownError` is resolved through the client's own reads (listing /
  retrieve / lookup) and the answer agrees with the ledger;
* nothing leaked: no slot borrowed at the admission limiter, no pooled connection checked
  out, no background job, no task left running, the client's task group closed;
* token grants stay within 1 + tokens revoked or expired + grants the fault plan wasted.

Everything is counted, nothing is timed: `anyio.fail_after` only guards against hangs.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import anyio

import flexiti_async
from flexiti_async import FlexitiClient, RetryPolicy, errors
from flexiti_async._transports._pool import AdmittedConnectionPool
from flexiti_async.models import FinancingOption, TransactionType, VerifyFormat
from flexiti_async.testing import Fault, FaultRule, FlexitiSandbox, SandboxClock

__all__ = ["ChaosRun", "merge_reports"]

CENT = Decimal("0.01")
EMPLOYEE = "12345-CHAOS"

#: Plan 1 of the seeded sandbox (6 or 12 months) is open to every account.
PROMOTIONAL = FinancingOption(
    transaction_type=TransactionType.PROMOTIONAL_PURCHASE, plan_id=1, term=12
)
#: Operation kind -> the ledger kind it writes (the money movements).
MONEY_KINDS = {
    "authorize": "authorization",
    "capture": "capture",
    "return": "return",
    "release": "release",
    "refund": "refund",
}
#: Kinds that are state-changing POSTs: the only ones that may end in OutcomeUnknownError.
NOT_RESENT = frozenset({*MONEY_KINDS, "verify"})
#: API routes the mix uses (fault rules are added per route so the token route is separate).
API_ROUTES = (
    "lookup",
    "calculate_interest",
    "authorize",
    "capture",
    "return",
    "release",
    "retrieve_authorization",
    "refund",
    "verify",
    "transactions",
    "list_authorizations",
    "list_captures",
)
#: Token-route faults after which the sandbox has issued a token the client never received.
WASTED_GRANT_FAULTS = frozenset({"drop-after", "malformed-json", "latency-over-timeout"})


@dataclass
class Op:
    """One client call and how it ended."""

    n: int
    kind: str
    reference_id: str
    account: int | None = None
    reference: str | None = None
    authorization_id: int | None = None
    capture_id: int | None = None
    amount: Decimal | None = None
    idempotency_key: str | None = None
    request: dict[str, Any] = field(default_factory=dict)
    outcome: str = "pending"  # ok | outcome_unknown | escaped | <FlexitiError subclass name>
    error: BaseException | None = None
    result: Any = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return (Decimal(rng.randrange(low * 100, high * 100 + 1)) * CENT).quantize(CENT)


class ChaosRun:
    """One seeded chaos run; `run` returns the report (counts and the problems found)."""

    def __init__(
        self,
        seed: int,
        *,
        operations: int,
        backend: str,
        transport: str = "httpx",
        max_concurrency: int = 24,
        callers: int = 160,
        timeout: float = 0.5,
        revocations: int = 3,
        expiries: int = 2,
    ) -> None:
        self.seed = seed
        self.operations = operations
        self.backend = backend
        self.transport = transport
        self.max_concurrency = max_concurrency
        self.callers = callers
        self.timeout = timeout
        self.revocations = revocations
        self.expiries = expiries
        self.rng = random.Random(seed)
        self.sandbox = FlexitiSandbox(seed=seed, clock=SandboxClock(frozen=True))
        self.ops: list[Op] = []
        self.rules: list[tuple[str, str, FaultRule]] = []  # (scope, label, rule)
        self.problems: dict[str, list[str]] = defaultdict(list)
        self._counter = 0
        self.purchase_accounts = [
            self.sandbox.add_account(credit_limit="1000000.00").account_number for _ in range(8)
        ]
        self.payment_accounts = [
            self.sandbox.add_account(credit_limit="5000.00").account_number for _ in range(16)
        ]
        self.initial_credit = {
            number: self.sandbox.account(number).available_credit
            for number in (*self.purchase_accounts, *self.payment_accounts)
        }
        self.store = self.sandbox.stores[0].external_location_id
        self.locks = {number: anyio.Lock() for number in self.payment_accounts}

    # ------------------------------------------------------------------ fault plan

    def _add(self, scope: str, route: str, label: str, fault: Fault, **kw: Any) -> None:
        self.rules.append((scope, label, self.sandbox.faults.add(route=route, fault=fault, **kw)))

    def plan_faults(self) -> None:
        """Seeded rules: per API route, on the token route, and token loss on any route."""
        rng = self.rng
        # Token loss first: these faults are cumulative, so they are rolled on every request.
        self._add(
            "tokens",
            "*",
            "revoke-tokens",
            Fault.revoke_tokens(),
            times=self.revocations,
            probability=0.003,
        )
        self._add(
            "tokens",
            "*",
            "expire-tokens",
            Fault.expire_tokens(),
            times=self.expiries,
            probability=0.003,
        )
        past = datetime(2020, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=rng.randrange(99))
        for route in API_ROUTES:
            k = rng.uniform(0.7, 1.4)  # how hostile this route is in this run
            catalogue: list[tuple[str, Fault, float]] = [
                ("latency-under-timeout", Fault.latency(rng.uniform(0.01, 0.05)), 0.03),
                ("latency-over-timeout", Fault.latency(rng.uniform(0.6, 0.8)), 0.008),
                ("429", Fault.status(429), 0.012),
                ("429+retry-after", Fault.status(429, retry_after=0.05), 0.008),
                ("429+retry-after-date", Fault.status(429, retry_after=past), 0.003),
                ("429+retry-after-too-long", Fault.status(429, retry_after=120), 0.002),
                ("500", Fault.status(500), 0.006),
                ("502", Fault.status(502), 0.006),
                ("503", Fault.status(503), 0.006),
                ("504", Fault.status(504), 0.006),
                ("500+retry-after", Fault.status(500, retry_after=0), 0.003),
                ("503+retry-after", Fault.status(503, retry_after=0.05), 0.003),
                ("html-502", Fault.html_error(502), 0.003),
                ("drop-before", Fault.drop_before(), 0.012),
                ("drop-after", Fault.drop_after(), 0.012),
                ("malformed-json", Fault.malformed_json(), 0.008),
            ]
            for label, fault, p in catalogue:
                self._add("api", route, label, fault, probability=min(1.0, p * k))
        # The token route (few requests, so high odds): refusals, where no token is issued,
        # and a few answers lost after the grant (each wastes one grant).
        self._add("token", "token", "503", Fault.status(503), probability=0.15)
        self._add(
            "token", "token", "429+retry-after", Fault.status(429, retry_after=0), probability=0.1
        )
        self._add("token", "token", "drop-before", Fault.drop_before(), probability=0.1)
        self._add("token", "token", "drop-after", Fault.drop_after(), times=2, probability=0.1)
        self._add(
            "token", "token", "malformed-json", Fault.malformed_json(), times=2, probability=0.1
        )
        self._add(
            "token", "token", "latency-over-timeout", Fault.latency(0.7), times=1, probability=0.1
        )

    def fault_counts(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for scope, label, rule in self.rules:
            if rule.hits:
                counts[label if scope != "token" else f"token:{label}"] += rule.hits
        return dict(sorted(counts.items()))

    # ------------------------------------------------------------------ operations

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _ref(self, n: int) -> str:
        return f"CH{self.seed}-{n}"

    async def _op(self, kind: str, call: Callable[[], Awaitable[Any]], op: Op) -> Op:
        op.kind = kind
        self.ops.append(op)
        with flexiti_async.reference_id(op.reference_id):
            try:
                op.result = await call()
            except errors.OutcomeUnknownError as exc:
                op.outcome, op.error = "outcome_unknown", exc
            except errors.FlexitiError as exc:
                op.outcome, op.error = type(exc).__name__, exc
            except Exception as exc:  # what must never happen: KeyError, httpx, groups...
                op.outcome, op.error = "escaped", exc
            else:
                op.outcome = "ok"
        return op

    def _new(self, **fields: Any) -> Op:
        return Op(n=self._next(), kind="", reference_id=uuid.uuid4().hex, **fields)

    async def purchase(self, client: FlexitiClient, plan: dict[str, Any]) -> None:
        acct, amount = plan["account"], plan["amount"]
        # The online flow, as the strict sandbox (and Flexiti) wants it: the widget identifies
        # the customer, then the authorization follows (a promotional one, so returns apply).
        widget = await self._op(
            "widget",
            lambda: client.widget.init(flow="purchase", account_number=acct),
            self._new(account=acct),
        )
        if not widget.ok:
            return
        auth_op = self._new(account=acct, amount=amount)
        auth_op.reference = self._ref(auth_op.n)
        auth = await self._op(
            "authorize",
            lambda: client.authorizations.create(
                account_number=acct,
                amount=amount,
                financing_option=PROMOTIONAL,
                reference=auth_op.reference,
            ),
            auth_op,
        )
        if not auth.ok:
            return
        auth_id = auth.result.authorization_id
        captured = max(CENT, (amount * plan["capture"]).quantize(CENT))
        cap_op = self._new(account=acct, authorization_id=auth_id, amount=captured)
        cap_op.reference = self._ref(cap_op.n)
        cap = await self._op(
            "capture",
            lambda: client.authorizations.capture(
                auth_id, amount=captured, reference=cap_op.reference
            ),
            cap_op,
        )
        if not cap.ok:
            return
        capture_id = cap.result.capture_id
        if plan["return"]:
            back = max(CENT, (captured / 2).quantize(CENT))
            ret_op = self._new(
                account=acct, authorization_id=auth_id, capture_id=capture_id, amount=back
            )
            ret_op.reference = self._ref(ret_op.n)
            ret = await self._op(
                "return",
                lambda: client.authorizations.return_capture(
                    auth_id, capture_id, amount=back, reference=ret_op.reference
                ),
                ret_op,
            )
            if not ret.ok:
                return
        if plan["release"] and captured < amount:  # nothing left to release otherwise
            rel = await self._op(
                "release",
                lambda: client.authorizations.release(auth_id),
                self._new(account=acct, authorization_id=auth_id),
            )
            if not rel.ok:
                return
        if plan["retrieve"]:
            await self._op(
                "retrieve",
                lambda: client.authorizations.retrieve(auth_id),
                self._new(account=acct, authorization_id=auth_id),
            )

    async def payment(self, client: FlexitiClient, plan: dict[str, Any]) -> None:
        acct, amount = plan["account"], plan["amount"]
        # One PIN per account at a time, as at a real till.
        async with self.locks[acct]:
            request_id = uuid.uuid4().hex
            verify = await self._op(
                "verify",
                lambda: client.accounts.verify(
                    acct, format=VerifyFormat.SMS, request_id=request_id
                ),
                self._new(account=acct),
            )
            if not verify.ok:
                return
            txn_op = self._new(account=acct, amount=amount)
            txn_op.idempotency_key = f"chaos-{self.seed}-{txn_op.n}"
            txn_op.request = {
                "transaction_type": TransactionType.DEPOSIT,
                "amount": amount,
                "account_number": acct,
                "verification_code": self.sandbox.last_pin(acct),
                "request_id": request_id,
                "external_location_id": self.store,
                "external_employee_id": EMPLOYEE,
                "idempotency_key": txn_op.idempotency_key,
            }
            await self._op(
                "transaction", lambda: client.transactions.create(**txn_op.request), txn_op
            )

    async def listing(self, client: FlexitiClient, plan: dict[str, Any]) -> None:
        acct = plan["account"]

        async def walk() -> int:
            if plan["what"] == "authorizations":
                paginator: Any = client.authorizations.list(
                    account_number=acct, page_size=plan["page_size"], max_items=plan["max_items"]
                )
            else:
                paginator = client.captures.list(
                    account_number=acct, page_size=plan["page_size"], max_items=plan["max_items"]
                )
            seen = 0
            async for _item in paginator:
                seen += 1
            return seen

        await self._op(f"list_{plan['what']}", walk, self._new(account=acct))

    async def single(self, client: FlexitiClient, plan: dict[str, Any]) -> None:
        acct, kind = plan["account"], plan["kind"]
        if kind == "lookup":
            await self._op(
                "lookup",
                lambda: client.customers.lookup(account_number=acct),
                self._new(account=acct),
            )
        elif kind == "calculate_interest":
            amount = plan["amount"]
            await self._op(
                "calculate_interest",
                lambda: client.accounts.calculate_interest(acct, amount=amount),
                self._new(account=acct, amount=amount),
            )
        else:
            op = self._new(account=acct, amount=plan["amount"])
            op.reference = self._ref(op.n)
            await self._op(
                "refund",
                lambda: client.accounts.refund(acct, amount=op.amount, reference=op.reference),
                op,
            )

    def plan_flows(self) -> list[tuple[Callable[..., Awaitable[None]], dict[str, Any]]]:
        """A seeded list of flows whose steps add up to about ``operations`` calls."""
        rng = self.rng
        flows: list[tuple[Callable[..., Awaitable[None]], dict[str, Any]]] = []
        planned = 0
        while planned < self.operations:
            pick = rng.random()
            if pick < 0.36:
                plan = {
                    "account": rng.choice(self.purchase_accounts),
                    "amount": _money(rng, 5, 400),
                    "capture": Decimal(rng.choice(("0.25", "0.5", "0.75", "1"))),
                    "return": rng.random() < 0.5,
                    "release": rng.random() < 0.6,
                    "retrieve": rng.random() < 0.3,
                }
                flows.append((self.purchase, plan))
                planned += 3 + plan["return"] + plan["release"] + plan["retrieve"]
            elif pick < 0.50:
                plan = {"account": rng.choice(self.payment_accounts), "amount": _money(rng, 1, 20)}
                flows.append((self.payment, plan))
                planned += 2
            elif pick < 0.68:
                plan = {
                    "what": rng.choice(("authorizations", "captures")),
                    "account": rng.choice(self.purchase_accounts),
                    "page_size": rng.choice((2, 3, 5, 10)),
                    "max_items": rng.choice((None, 5, 12, 40)),
                }
                flows.append((self.listing, plan))
                planned += 1
            else:
                kind = rng.choices(("lookup", "calculate_interest", "refund"), (5, 2, 3))[0]
                plan = {
                    "kind": kind,
                    "account": rng.choice(self.purchase_accounts),
                    "amount": _money(rng, 1, 30),
                }
                flows.append((self.single, plan))
                planned += 1
        return flows

    async def drive(self, client: FlexitiClient) -> None:
        """Run every flow, ``callers`` at a time (far more than the admission limit)."""
        flows = self.plan_flows()
        callers = anyio.CapacityLimiter(self.callers)

        async def one(flow: Callable[..., Awaitable[None]], plan: dict[str, Any]) -> None:
            async with callers:
                await flow(client, plan)

        async with anyio.create_task_group() as tg:
            for flow, plan in flows:
                tg.start_soon(one, flow, plan)

    # ------------------------------------------------------------------ checks

    async def quiesce(self) -> None:
        """Wait until the sandbox has finished every request it was still processing (e.g. a
        capture sleeping in a latency fault after the client gave up on it)."""
        stats = self.sandbox.stats
        with anyio.fail_after(15):  # hang guard only
            while stats.in_flight or stats.in_flight_token:
                await anyio.sleep(0.02)

    def check_pool(self, client: FlexitiClient, where: str) -> None:
        family = client._family
        if family.limiter.borrowed_tokens:
            self.problems["leaks"].append(
                f"{where}: {family.limiter.borrowed_tokens} admission slots still borrowed"
            )
        if family.background:
            self.problems["leaks"].append(f"{where}: {len(family.background)} background jobs")
        pool = getattr(family.http._transport, "_pool", None)
        if pool is None:  # the aiohttp transport has no httpcore pool to inspect
            return
        if isinstance(pool, AdmittedConnectionPool):  # the client's own HTTP/1.1 pool
            busy = pool.in_use
        else:  # httpcore's (HTTP/2)
            busy = sum(not (c.is_idle() or c.is_closed()) for c in pool.connections)
            busy += len(pool._requests)
        if busy:
            self.problems["leaks"].append(f"{where}: {busy} connections or requests checked out")

    def check_outcomes(self) -> None:
        for op in self.ops:
            if op.outcome == "escaped":
                self.problems["escaped"].append(f"op {op.n} {op.kind}: {op.error!r}")
            elif op.outcome == "pending":
                self.problems["escaped"].append(f"op {op.n} {op.kind} never finished")
            elif op.outcome == "outcome_unknown" and op.kind not in NOT_RESENT:
                self.problems["mismatches"].append(
                    f"op {op.n} {op.kind}: OutcomeUnknownError on a call that is resent"
                )

    def check_ledger(self) -> dict[str, int]:
        """Applied at most once, and each outcome class agrees with the ledger."""
        entries = self.sandbox.ledger.entries
        by_rid: dict[str, list[Any]] = defaultdict(list)
        by_ref: Counter[tuple[str, str]] = Counter()
        by_key: Counter[str] = Counter()
        for entry in entries:
            if entry.reference_id:
                by_rid[entry.reference_id].append(entry)
            if entry.kind == "transaction" and entry.idempotency_key:
                by_key[entry.idempotency_key] += 1
            elif entry.kind in ("capture", "return", "refund") and entry.reference:
                by_ref[(entry.kind, entry.reference)] += 1
        dup = self.problems["duplicates"]
        for rid, group in by_rid.items():
            for kind, n in Counter(e.kind for e in group).items():
                if n > 1:
                    dup.append(f"{kind} applied {n} times for reference id {rid}")
        dup.extend(f"{k} {ref} applied {n} times" for (k, ref), n in by_ref.items() if n > 1)
        dup.extend(f"transaction key {k} applied {n} times" for k, n in by_key.items() if n > 1)

        unknown_applied = unknown_not_applied = 0
        for op in self.ops:
            if op.kind in MONEY_KINDS:
                group = by_rid.get(op.reference_id, [])
                applied = sum(e.kind == MONEY_KINDS[op.kind] for e in group)
            elif op.kind == "transaction":
                applied = by_key.get(op.idempotency_key or "", 0)
            else:
                continue
            if op.outcome == "outcome_unknown":
                expected: tuple[int, ...] = (0, 1)
                unknown_applied += applied == 1
                unknown_not_applied += applied == 0
            elif op.ok:
                expected = (1,)
            elif op.outcome == "ResponseValidationError":
                # An unreadable 2xx. Usually applied, but the sandbox's malformed-JSON fault
                # also replaces refusals (401, 409) with a broken 200: resolved like unknowns.
                expected = (0, 1)
            elif op.kind == "transaction":
                expected = (0, 1)  # retried with its key: may have landed on an earlier try
            else:
                expected = (0,)  # a typed error on a call that is never resent: not applied
            if applied not in expected:
                self.problems["mismatches"].append(
                    f"op {op.n} {op.kind} ended {op.outcome} but the ledger applied it {applied}x"
                )
        return {"applied": unknown_applied, "not_applied": unknown_not_applied}

    async def reconcile(self, client: FlexitiClient) -> dict[str, int]:
        """Resolve every OutcomeUnknownError the way a user would, through the client, and
        check the answer against the ledger. Then resend failed transactions with their key."""
        ledger = self.sandbox.ledger
        mismatches = self.problems["mismatches"]
        resolved = Counter[str]()
        unknown = [
            op
            for op in self.ops
            if op.kind in NOT_RESENT
            and op.outcome in ("outcome_unknown", "ResponseValidationError")
        ]
        listed: dict[int, dict[str, Any]] = {}
        for op in unknown:
            if op.kind == "verify":
                resolved["verify:moves_no_money"] += 1  # a PIN was sent, or not: harmless
                continue
            entries = ledger.filter(reference_id=op.reference_id)
            applied = any(e.kind == MONEY_KINDS[op.kind] for e in entries)
            if op.kind == "authorize":
                assert op.account is not None
                if op.account not in listed:
                    listed[op.account] = {
                        a.reference: a
                        async for a in client.authorizations.list(
                            account_number=op.account, page_size=500
                        )
                    }
                found = op.reference in listed[op.account]
            elif op.kind in ("capture", "return", "release"):
                auth = await client.authorizations.retrieve(op.authorization_id or 0)
                aid = auth.authorization_id
                # The authorization's totals, as the client sees them, match the ledger.
                for total, kind in (
                    (auth.captured_amount, "capture"),
                    (auth.released_amount, "release"),
                    (auth.returned_amount, "return"),
                ):
                    if total != ledger.total(kind=kind, authorization_id=aid):
                        mismatches.append(f"authorization {aid}: {kind} total {total} != ledger")
                # A flow makes at most one capture, return and release per step, so the
                # client's own view answers "did it happen?" directly.
                if op.kind == "capture":
                    found = any(c.reference == op.reference for c in auth.captures)
                elif op.kind == "return":
                    capture = next(c for c in auth.captures if c.capture_id == op.capture_id)
                    found = bool(capture.returned_amount)
                    if found and capture.returned_amount != op.amount:
                        mismatches.append(f"op {op.n}: returned {capture.returned_amount}")
                else:
                    found = bool(auth.released_amount)
            else:
                found = applied  # refunds: checked through the balances below
            tag = "unknown" if op.outcome == "outcome_unknown" else "unreadable_2xx"
            resolved[f"{op.kind}:{tag}:{'applied' if applied else 'not_applied'}"] += 1
            if found != applied:
                mismatches.append(
                    f"op {op.n} {op.kind}: the client sees applied={found}, ledger {applied}"
                )
        # Every account's available credit, read through the client, is what the ledger says.
        signs = {"authorization": -1, "release": 1, "return": 1, "refund": 1, "transaction": 1}
        for number, initial in self.initial_credit.items():
            expected = initial + sum(
                signs.get(e.kind, 0) * e.amount for e in ledger.filter(account_number=number)
            )
            profile = await client.customers.lookup(account_number=number)
            if profile.available_credit != expected:
                mismatches.append(
                    f"account {number}: available {profile.available_credit}, ledger {expected}"
                )
        # A transaction that failed can be resent with its key: once applied, never twice.
        resent = 0
        for op in self.ops:
            if op.kind != "transaction" or op.ok:
                continue
            before = ledger.filter(kind="transaction", idempotency_key=op.idempotency_key)
            resent += 1
            try:
                txn = await client.transactions.create(**op.request)
            except errors.FlexitiError as exc:
                if before:
                    mismatches.append(f"op {op.n}: resend of an applied transaction: {exc!r}")
            else:
                # The model keeps ids as strings (Flexiti's example sends "100000"); the
                # sandbox ledger stores ints: compare the values, not the types.
                if before and txn.transaction_id != str(before[0].transaction_id):
                    mismatches.append(f"op {op.n}: resend answered another transaction")
            after = ledger.count(kind="transaction", idempotency_key=op.idempotency_key)
            if after > 1:
                self.problems["duplicates"].append(f"op {op.n}: transaction applied {after}x")
        resolved["transactions_resent"] = resent
        return dict(sorted(resolved.items()))

    # ------------------------------------------------------------------ the run

    def client(self, base_url: str) -> FlexitiClient:
        return FlexitiClient(
            self.sandbox.client_id,
            self.sandbox.client_secret,
            base_url=base_url,
            timeout=self.timeout,
            max_concurrency=self.max_concurrency,
            transport=self.transport,  # type: ignore[arg-type]
            retry_policy=RetryPolicy(
                max_retries=3,
                backoff_base=0.02,
                backoff_cap=0.2,
                rng=random.Random(self.seed),
            ),
            clock=lambda: self.sandbox.clock.now().timestamp(),
        )

    async def run(self) -> dict[str, Any]:
        sandbox = self.sandbox
        async with sandbox.serve() as base_url:
            baseline = {task.id for task in anyio.get_running_tasks()}
            client = self.client(base_url)
            async with client:
                self.plan_faults()
                with anyio.fail_after(300):  # hang guard only
                    await self.drive(client)
                faults = self.fault_counts()
                sandbox.faults.clear()
                await self.quiesce()
                self.check_pool(client, "after the run")
                self.check_outcomes()
                unknown = self.check_ledger()
                with anyio.fail_after(120):  # hang guard only
                    resolved = await self.reconcile(client)
                self.check_pool(client, "after reconciliation")
                requests = sandbox.stats.total_requests
            # Closed: the pool is empty and the client's task group is gone.
            pool = getattr(client._family.http._transport, "_pool", None)
            if pool is not None and pool.connections:
                self.problems["leaks"].append(f"{len(pool.connections)} connections after close")
            if client._family.task_group is not None or client._family.background:
                self.problems["leaks"].append("the client's task group is still open")
            # No task started during the run is still running (bounded wait: uvicorn's
            # per-request tasks end a moment after their connection closes).
            with anyio.move_on_after(5):
                while self._new_tasks(baseline):
                    await anyio.sleep(0.02)
            leftover = self._new_tasks(baseline)
            self.problems["leaks"].extend(f"task left running: {t}" for t in leftover)
        return self.report(faults, unknown, resolved, requests)

    @staticmethod
    def _new_tasks(baseline: set[int]) -> list[str]:
        return [
            task.name or repr(task.coro)
            for task in anyio.get_running_tasks()
            if task.id not in baseline and task.id != anyio.get_current_task().id
        ]

    def report(
        self,
        faults: dict[str, int],
        unknown: dict[str, int],
        resolved: dict[str, int],
        requests: int,
    ) -> dict[str, Any]:
        grants = dict(self.sandbox.stats.token_grants)
        token_loss = sum(rule.hits for scope, _label, rule in self.rules if scope == "tokens")
        wasted = sum(
            rule.hits
            for scope, label, rule in self.rules
            if scope == "token" and label in WASTED_GRANT_FAULTS
        )
        bound = 1 + token_loss + wasted
        if sum(grants.values()) > bound:
            self.problems["token_grants"].append(f"{sum(grants.values())} grants > bound {bound}")
        # A lost token costs at most the requests on the wire when it was lost (each has one
        # 401 replay), never the callers waiting for admission.
        auth_errors = sum(op.outcome == "AuthenticationError" for op in self.ops)
        if auth_errors > self.max_concurrency * token_loss:
            self.problems["token_grants"].append(
                f"{auth_errors} AuthenticationErrors from {token_loss} token losses"
            )
        outcomes: Counter[str] = Counter()
        by_kind: dict[str, Counter[str]] = defaultdict(Counter)
        for op in self.ops:
            outcomes[op.outcome] += 1
            by_kind[op.kind][op.outcome] += 1
        return {
            "seed": self.seed,
            "backend": self.backend,
            "transport": self.transport,
            "operations": len(self.ops),
            "operations_by_kind": dict(sorted(Counter(op.kind for op in self.ops).items())),
            "requests_seen_by_sandbox": requests,
            "faults_injected": faults,
            "faults_injected_total": sum(faults.values()),
            "outcomes": {
                "ok": outcomes["ok"],
                "outcome_unknown": outcomes["outcome_unknown"],
                "typed_errors": {
                    k: v
                    for k, v in sorted(outcomes.items())
                    if k not in ("ok", "outcome_unknown", "escaped", "pending")
                },
                "escaped": outcomes["escaped"] + outcomes["pending"],
            },
            "outcomes_by_kind": {k: dict(sorted(v.items())) for k, v in sorted(by_kind.items())},
            "outcome_unknown_per_ledger": unknown,
            "reconciled": resolved,
            "token_grants": grants,
            "token_grant_bound": bound,
            "ledger_entries": len(self.sandbox.ledger),
            "duplicates": list(self.problems["duplicates"]),
            "leaks": list(self.problems["leaks"]),
            "escaped": list(self.problems["escaped"]),
            "mismatches": list(self.problems["mismatches"]),
            "token_grant_problems": list(self.problems["token_grants"]),
        }


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over several runs (for the long run's summary)."""

    def add(into: dict[str, Any], key: str, value: Any) -> None:
        if isinstance(value, dict):
            sub = into.setdefault(key, {})
            for k, v in value.items():
                add(sub, k, v)
        elif isinstance(value, list):
            into[key] = into.get(key, 0) + len(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            into[key] = into.get(key, 0) + value

    total: dict[str, Any] = {"runs": len(reports), "seeds": [r["seed"] for r in reports]}
    for report in reports:
        for key, value in report.items():
            if key not in ("seed", "backend", "transport"):
                add(total, key, value)
    return total
