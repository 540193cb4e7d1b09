"""flexiti_async: asyncio/trio-native client for the Flexiti POS API v2.5."""
