"""Autograder for the MyTorch homework: grades a student's pure-NumPy `mytorch` against torch."""

__version__ = "0.1.0"
