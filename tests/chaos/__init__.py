"""Chaos suite: thousands of mixed operations against the loopback sandbox under faults."""
