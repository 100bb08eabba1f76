"""Tests of the medication service: the drug catalogue and the pure medication-list domain."""
