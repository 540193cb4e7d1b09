"""flexiti_async: an asyncio- and trio-native client for the Flexiti POS API v2.5 / v2.5.1.

>>> from flexiti_async import FlexitiClient, Environment              # doctest: +SKIP
>>> async with FlexitiClient.from_env() as flexiti:                  # doctest: +SKIP
...     profile = await flexiti.customers.lookup(account_number=100000001)
"""

from __future__ import annotations

from . import errors
from ._auth import AccessToken, InMemoryTokenStore, TokenManager, TokenStore
from ._client import DEFAULT_MAX_CONCURRENCY, DEFAULT_TIMEOUT, FlexitiClient
from ._redact import RedactingFilter, install_httpx_log_filter
from ._reference import current_reference_id, reference_id
from ._retry import RetryPolicy
from ._stores import FileTokenStore, RedisTokenStore
from ._telemetry import Telemetry
from ._version import __version__
from .environments import Environment
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BlockedError,
    ConflictError,
    ErrorCode,
    FlexitiError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AccessToken",
    "AuthenticationError",
    "BlockedError",
    "ConflictError",
    "Environment",
    "ErrorCode",
    "FileTokenStore",
    "FlexitiClient",
    "FlexitiError",
    "InMemoryTokenStore",
    "InvalidRequestError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedactingFilter",
    "RedisTokenStore",
    "RetryPolicy",
    "ServerError",
    "Telemetry",
    "TokenManager",
    "TokenStore",
    "__version__",
    "current_reference_id",
    "errors",
    "install_httpx_log_filter",
    "reference_id",
]

# Public names report the package, not the private module they live in (as httpx does).
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("flexiti_async._"):
        try:
            _obj.__module__ = "flexiti_async"
        except (AttributeError, TypeError):  # pragma: no cover - builtins, constants
            pass
del _name, _obj
