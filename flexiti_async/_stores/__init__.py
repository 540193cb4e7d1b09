"""Token stores: where tokens live, and how processes share one token.

`InMemoryTokenStore` (default, one process), `FileTokenStore` (processes on one machine),
`RedisTokenStore` (processes anywhere; extra ``redis``).
"""

from ._base import AccessToken, InMemoryTokenStore, TokenStore, decode_token, encode_token
from ._file import FileTokenStore
from ._redis import RedisTokenStore

__all__ = [
    "AccessToken",
    "FileTokenStore",
    "InMemoryTokenStore",
    "RedisTokenStore",
    "TokenStore",
    "decode_token",
    "encode_token",
]
