"""Figures (PNG, matplotlib Agg). Placeholder until the full set is written."""


def all_figures(comparisons, reference, folder, stem):
    return []
