"""Merchant model: the (deprecated) ``POST merchants/login`` response."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

__all__ = ["MerchantLogin"]


@frozen(kw_only=True)
class MerchantLogin:
    """The answer of ``POST merchants/login`` (deprecated since release 20.3).

    ``form_values`` maps a form field (``salutation``, ``province``, ``security_qid``,
    ``govid_type``, ...) to its options, code -> localized label. The wire nests each
    option map under an ``"options"`` key; the converter removes that level, so
    ``login.form_values["province"]["ON"]`` is the label for Ontario.
    """

    merchant_name: str | None = None
    merchant_id: str | None = None
    form_values: Mapping[str, Mapping[str, str]] = field(factory=dict)
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)

    def options(self, name: str) -> Mapping[str, str]:
        """The options of form field ``name`` (empty when Flexiti did not send it)."""
        return self.form_values.get(name, {})
