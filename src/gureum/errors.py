"""The one error tree. Every error knows its OpenAI `type`, `code` and HTTP status, so a single
handler renders any of them in OpenAI's error shape and no layer invents its own."""

from __future__ import annotations

from typing import Any


class GureumError(Exception):
    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequest(GureumError):
    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(GureumError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(GureumError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class PolicyBlocked(PermissionDenied):
    """A governance rule (PII, residency, allow-list) refused the request."""

    code = "policy_blocked"


class NotFound(GureumError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class Conflict(GureumError):
    """The resource is in a state that does not allow this now (busy, already decided)."""

    status = 409
    type = "invalid_request_error"
    code = "conflict"


class PayloadTooLarge(GureumError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class Unprocessable(GureumError):
    status = 422
    type = "invalid_request_error"
    code = "invalid_value"


class RateLimited(GureumError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class BudgetExceeded(RateLimited):
    type = "insufficient_quota"
    code = "budget_exceeded"


class UpstreamError(GureumError):
    """The provider answered with an error or with something that is not its protocol."""

    status = 502
    type = "upstream_error"
    code = "bad_gateway"

    def __init__(self, message: str, *, retriable: bool = True, upstream_status: int | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retriable = retriable
        self.upstream_status = upstream_status


class UpstreamRateLimited(UpstreamError):
    status = 429
    type = "rate_limit_error"
    code = "upstream_rate_limited"


class UpstreamRejected(UpstreamError):
    """The provider refused the request itself (its 4xx): retrying elsewhere will not help,
    so the client gets the provider's status and message."""

    status = 400
    type = "invalid_request_error"
    code = "upstream_rejected"

    def __init__(self, message: str, *, upstream_status: int = 400, **kw: Any) -> None:
        super().__init__(message, retriable=False, upstream_status=upstream_status, **kw)
        self.status = upstream_status if 400 <= upstream_status < 500 else 400


class ServiceUnavailable(GureumError):
    status = 503
    type = "service_unavailable"
    code = "no_deployment_available"


class StoreUnavailable(ServiceUnavailable):
    """The database cannot be reached (restarting, failing over, pool exhausted): retry shortly."""

    code = "store_unavailable"

    def __init__(self, message: str = "The store is unreachable right now (restarting or failing over); retry "
                 "shortly.", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.headers.setdefault("retry-after", "2")


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"
