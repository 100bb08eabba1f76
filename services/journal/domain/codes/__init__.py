"""Code lists for the journal: ICPC-2 and ICD-10 diagnoses, IPLOS service codes (tjenestekoder)
and the IPLOS functional assessment. Data are package files under ``data/`` with their sources.
"""

from services.journal.domain.codes.iplos import (
    ALLOWED_SCORES,
    InvalidIplosAssessment,
    IplosVariable,
    iplos_scores,
    iplos_variables,
    validate_iplos,
)
from services.journal.domain.codes.lists import (
    ICD10,
    ICPC2,
    IPLOS_SERVICE,
    SYSTEMS,
    Code,
    CodeError,
    CodeSystem,
    UnknownCode,
    UnknownCodeSystem,
    all_codes,
    code_system,
    icd10,
    icpc2,
    lookup,
    search,
    service_code,
    validate_code,
    validate_diagnosis,
)

__all__ = [
    "ALLOWED_SCORES", "ICD10", "ICPC2", "IPLOS_SERVICE", "SYSTEMS", "Code", "CodeError",
    "CodeSystem", "InvalidIplosAssessment", "IplosVariable", "UnknownCode", "UnknownCodeSystem",
    "all_codes", "code_system", "icd10", "icpc2", "iplos_scores", "iplos_variables", "lookup",
    "search", "service_code", "validate_code", "validate_diagnosis", "validate_iplos",
]
