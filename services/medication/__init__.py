"""services/medication: the patient's medication list (PLL), drug catalogue and decision support."""
