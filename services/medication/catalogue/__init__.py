"""The drug catalogue, in a shape modelled on the national catalogue FEST: products, substances,
interactions, and the pure plan for loading an extract. The shipped extract under ``data/`` is
SAMPLE DATA written for the project (see ``data/SOURCE.md``): not from FEST, not for clinical use.
"""

from services.medication.catalogue.fest import (
    Catalogue,
    CatalogueError,
    Extract,
    ExtractHeader,
    Ingredient,
    InteractingSubstance,
    Interaction,
    InteractionHit,
    KindPlan,
    Level,
    LoadPlan,
    MaxDailyDose,
    Package,
    Product,
    Substance,
    UnknownProduct,
    apply_plan,
    atc_level,
    parse_extract,
    plan_load,
    read_sample,
    sample_catalogue,
    sample_extract,
)

__all__ = [
    "Catalogue", "CatalogueError", "Extract", "ExtractHeader", "Ingredient",
    "InteractingSubstance", "Interaction", "InteractionHit", "KindPlan", "Level", "LoadPlan",
    "MaxDailyDose", "Package", "Product", "Substance", "UnknownProduct", "apply_plan", "atc_level",
    "parse_extract", "plan_load", "read_sample", "sample_catalogue", "sample_extract",
]
