"""What every FastAPI service shares: OperationOutcome errors and read-your-writes."""

from libs.web.consistency import QUERY_PARAM, consistent_read, requested_token, \
    set_consistency_token
from libs.web.errors import (
    FHIR_JSON, FhirJSONResponse, install_error_handlers, outcome, outcome_response)

__all__ = [
    "FHIR_JSON", "QUERY_PARAM", "FhirJSONResponse", "consistent_read", "install_error_handlers",
    "outcome", "outcome_response", "requested_token", "set_consistency_token",
]
