"""Typed, immutable models of Flexiti POS API requests and responses.

Models are plain attrs classes: frozen, slotted, keyword-only, without wire-format
knowledge (the one converter in ``flexiti_async._converter`` owns renames, spelling
variants and type coercion). Money is always `decimal.Decimal`. Every response model keeps
the decoded JSON object it was built from in ``raw`` (read-only, excluded from ``repr``
and ``==``), so fields Flexiti adds later stay reachable.

``terms-and-conditions`` and ``i18n`` have no model: Flexiti never published their
schema, so they are returned as the decoded JSON (as is ``apply``).

Submodules load on first access to one of their names (PEP 562), so importing the
package, or the converter, does not pay for building every model class.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .accounts import (
        AnnualRate,
        Fee,
        FinancingOptions,
        InterestCustomer,
        PlanTerm,
        PromotionalPlan,
        RegularPurchase,
        Verification,
    )
    from .authorizations import (
        Authorization,
        Capture,
        FinancingOption,
        Release,
        Return,
        SkuData,
        SkuProduct,
    )
    from .customers import (
        CustomerAccount,
        CustomerProfile,
        DriversLicense,
        OfferType,
        SecurityQuestion,
    )
    from .enums import (
        AccountStatus,
        AccountStatusReason,
        AccountType,
        AuthorizationStatus,
        CategoryType,
        GovIdType,
        Language,
        OfferCategory,
        Province,
        RiskRating,
        TransactionType,
        VerifyFormat,
        WidgetFlow,
    )
    from .location import Location
    from .merchants import MerchantLogin
    from .transactions import Transaction
    from .widget import CustomerIdentification, PersonalInformation, WidgetSession

__all__ = [
    # enums
    "AccountStatus",
    "AccountStatusReason",
    "AccountType",
    "AuthorizationStatus",
    "CategoryType",
    "GovIdType",
    "Language",
    "OfferCategory",
    "Province",
    "RiskRating",
    "TransactionType",
    "VerifyFormat",
    "WidgetFlow",
    # customers
    "CustomerAccount",
    "CustomerProfile",
    "DriversLicense",
    "OfferType",
    "SecurityQuestion",
    # accounts
    "AnnualRate",
    "Fee",
    "FinancingOptions",
    "InterestCustomer",
    "PlanTerm",
    "PromotionalPlan",
    "RegularPurchase",
    "Verification",
    # authorizations
    "Authorization",
    "Capture",
    "FinancingOption",
    "Release",
    "Return",
    "SkuData",
    "SkuProduct",
    # transactions
    "Transaction",
    # widget
    "CustomerIdentification",
    "PersonalInformation",
    "WidgetSession",
    # merchants
    "MerchantLogin",
    # in-store
    "Location",
]

# public name -> submodule that defines it
_SUBMODULES: dict[str, str] = {
    "AnnualRate": "accounts",
    "Fee": "accounts",
    "FinancingOptions": "accounts",
    "InterestCustomer": "accounts",
    "PlanTerm": "accounts",
    "PromotionalPlan": "accounts",
    "RegularPurchase": "accounts",
    "Verification": "accounts",
    "Authorization": "authorizations",
    "Capture": "authorizations",
    "FinancingOption": "authorizations",
    "Release": "authorizations",
    "Return": "authorizations",
    "SkuData": "authorizations",
    "SkuProduct": "authorizations",
    "CustomerAccount": "customers",
    "CustomerProfile": "customers",
    "DriversLicense": "customers",
    "OfferType": "customers",
    "SecurityQuestion": "customers",
    "AccountStatus": "enums",
    "AccountStatusReason": "enums",
    "AccountType": "enums",
    "AuthorizationStatus": "enums",
    "CategoryType": "enums",
    "GovIdType": "enums",
    "Language": "enums",
    "OfferCategory": "enums",
    "Province": "enums",
    "RiskRating": "enums",
    "TransactionType": "enums",
    "VerifyFormat": "enums",
    "WidgetFlow": "enums",
    "MerchantLogin": "merchants",
    "Location": "location",
    "Transaction": "transactions",
    "CustomerIdentification": "widget",
    "PersonalInformation": "widget",
    "WidgetSession": "widget",
}


# Hidden from type checkers, which see the imports above instead: a module-level
# __getattr__ would make them accept any misspelt name.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        """Import the submodule defining ``name`` on first access (PEP 562)."""
        submodule = _SUBMODULES.get(name)
        if submodule is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{submodule}", __name__), name)
        globals()[name] = value  # later look-ups no longer come here
        return value

    def __dir__() -> list[str]:
        """List the lazily loaded public names too."""
        return sorted(set(globals()) | set(__all__))
