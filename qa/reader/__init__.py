"""Answering: the reader model (neural.py), its span model and I/O, calibration, alternatives, article-field answers."""
