"""Online-channel widget models: the ``POST widget/init`` request parts and response."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import parse_qs

from attrs import Factory, field, frozen

from .._redact import mask_last4, redacted_repr

__all__ = ["CustomerIdentification", "PersonalInformation", "WidgetSession"]


@frozen(kw_only=True)
class PersonalInformation:
    """Request part: ``customer_identification.personal_information`` of widget/init.

    Used for a purchase without account or card number, and for the apply flow. The
    date of birth is not shown in ``repr``.
    """

    first_name: str
    last_name: str
    dob: date = field(repr=redacted_repr)
    #: Without a space, e.g. ``"A1A1A1"``.
    postal_code: str | None = None


@frozen(kw_only=True)
class CustomerIdentification:
    """Request part: ``customer_identification`` of widget/init.

    For a purchase give one of ``account_number``, ``vcc_number`` or
    ``personal_information``; for the apply flow give ``personal_information``.
    """

    account_number: int | None = None
    vcc_number: str | None = field(default=None, repr=mask_last4)
    personal_information: PersonalInformation | None = None


def _session_id_from_url(session: WidgetSession) -> str | None:
    """Read ``widget_session_id`` from the URL's query.

    The widget URL keeps its query inside the fragment (``…/#/widget/…/<token>?lang=…``),
    so take what follows the first ``?`` instead of using ``urlsplit``.
    """
    query = session.redirection_url.partition("?")[2].partition("#")[0]
    values = parse_qs(query).get("widget_session_id")
    return values[0] if values else None


@frozen(kw_only=True)
class WidgetSession:
    """The answer of ``POST widget/init``: the URL to open with the Flexiti JS SDK.

    ``redirection_url`` carries the access token in its path, so ``repr`` never shows it.
    ``widget_session_id`` comes from the body when Flexiti sends it, otherwise from the
    URL's query; it ties the later ``apply``/``authorization`` call to this session.
    """

    redirection_url: str = field(repr=redacted_repr)
    widget_session_id: str | None = Factory(_session_id_from_url, takes_self=True)
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)
