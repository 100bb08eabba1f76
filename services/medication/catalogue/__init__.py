"""The drug catalogue, in a shape modelled on the national catalogue FEST: products, substances,
interactions, and the pure plan for loading an extract. The shipped extract under ``data/`` is
SAMPLE DATA written for the project (see ``data/SOURCE.md``): not from FEST, not for clinical use.

``model`` (the entries of an extract), ``loaded`` (a loaded catalogue and its lookups),
``extract`` (reading an extract, the shipped sample), ``plan`` (loading: a pure diff) are pure;
``adapter`` shows a catalogue to decision support; ``store`` keeps it in PostgreSQL.
"""

from services.medication.catalogue.extract import (
    parse_extract, read_sample, sample_catalogue, sample_extract,
)
from services.medication.catalogue.loaded import Catalogue, InteractionHit
from services.medication.catalogue.model import (
    CatalogueError, Extract, ExtractHeader, Ingredient, InteractingSubstance, Interaction, Level,
    MaxDailyDose, Package, Product, Substance, UnknownProduct, atc_level,
)
from services.medication.catalogue.plan import KindPlan, LoadPlan, apply_plan, plan_load

__all__ = [
    "Catalogue", "CatalogueError", "Extract", "ExtractHeader", "Ingredient",
    "InteractingSubstance", "Interaction", "InteractionHit", "KindPlan", "Level", "LoadPlan",
    "MaxDailyDose", "Package", "Product", "Substance", "UnknownProduct", "apply_plan", "atc_level",
    "parse_extract", "plan_load", "read_sample", "sample_catalogue", "sample_extract",
]
