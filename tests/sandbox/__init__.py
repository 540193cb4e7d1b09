"""Tests of the sandbox emulator (flexiti_async.testing)."""
