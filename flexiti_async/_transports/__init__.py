"""How requests reach the wire: the direct send path, the admitted pool, the aiohttp lane."""

from ._direct import Sender, build_http_client

__all__ = ["Sender", "build_http_client"]
