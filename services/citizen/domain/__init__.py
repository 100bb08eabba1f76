"""Pure rules of what a citizen is shown: notes after the hold-back, vital signs as a chart,
doses as text, the access log in plain words."""
