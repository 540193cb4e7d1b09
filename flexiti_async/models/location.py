"""Request part: the store and employee an in-store call is made from."""

from __future__ import annotations

from attrs import frozen

__all__ = ["Location"]


@frozen(kw_only=True)
class Location:
    """Where an in-store call happens: ``external_location_id`` and ``external_employee_id``.

    Flexiti wants both on in-store calls (or neither online). Build it once per till and
    pass it as ``location=`` to the methods that take the pair (authorizations create,
    capture, release and return_capture, accounts.refund, transactions.create):

    >>> till = Location(external_location_id="00-12345", external_employee_id="12345-SMITH")
    >>> till.external_location_id
    '00-12345'
    """

    external_location_id: str
    external_employee_id: str
