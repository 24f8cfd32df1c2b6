"""The methodology as pure functions over numpy arrays and model objects.

Nothing in this package reads files other than the shipped data tables, and
nothing imports openpyxl or xlwings (tests/test_layers.py enforces it).
"""
