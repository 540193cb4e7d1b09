"""Applications: credit applications (schema withdrawn by Flexiti: passthrough)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import _converter
from ..errors import InvalidRequestError, ResponseValidationError
from ._base import Resource

__all__ = ["Applications"]


class Applications(Resource):
    """``flexiti.applications``: submit a credit application."""

    __slots__ = ()

    async def apply(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Submit a credit application; returns Flexiti's decoded JSON answer.

        ``POST v2.5/apply``; customer scope (online, after the widget ended with
        ``action == "apply"``) or merchant scope (in-store). Flexiti withdrew this
        endpoint's documentation in 2022 (Open question 6), so ``payload`` is sent as
        given (canonical JSON; money as `Decimal`, never float) and the answer is returned
        undecoded into a model. Online, the personal data must match what was sent to
        ``widget.init`` with the same token, with the matching ``widget_session_id``.

        Never resent blindly: if the answer is lost it raises `OutcomeUnknownError`.

        Raises `InvalidRequestError` (before any I/O) when ``payload`` is not a JSON
        object of encodable values; `ApplicationError` (``application_create_error``,
        ``tos_agreement_required``, ``customer_already_exists``, ``application_declined``
        (``_2``, ``_3``), ``application_marked_pending_1``/``_2``,
        ``creditapp_id_not_found``); `VerificationError` (``not_verified``);
        `NotPermittedError` (``invalid_role``, ``external_location_id_not_found``,
        ``account_type_not_permitted``); `InputValidationError` (``wrong_inputs``);
        `BadRequestError` (400 ``general_error``); `PermissionDeniedError`.
        """
        if not isinstance(payload, Mapping) or not all(isinstance(k, str) for k in payload):
            raise InvalidRequestError("payload must be a mapping with string keys", field="payload")
        try:
            _converter.dumps(payload)
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(
                f"payload cannot be sent as JSON ({exc})", field="payload"
            ) from None
        body = await self._client._request("POST", "apply", json=dict(payload))
        if body is None:
            return {}
        if not isinstance(body, Mapping):
            raise ResponseValidationError(
                "POST apply: the response is not a JSON object",
                reference_id=None,
                status_code=200,
                body=body,
            )
        return dict(body)
