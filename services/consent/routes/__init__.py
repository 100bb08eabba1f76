"""The consent service's routes, one module per audience."""
