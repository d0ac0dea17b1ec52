"""Experiment modules: one per table or figure of the paper (``python -m experiments.<name>``)."""
