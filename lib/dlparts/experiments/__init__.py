"""Experiment code that one chapter's notebooks share: a module per chapter or notebook.

Models and layers that several chapters use live in :mod:`dlparts.models` and
:mod:`dlparts.scratch`; what is here sets up and runs one chapter's experiments (its data
subset, its sweep over seeds or settings, its summary table), so the notebook reads as prose
and figures and the experiment is tested like the rest of the library.
"""
