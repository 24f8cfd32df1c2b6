"""Python side of consumer_revolving_sample.xlsx for the xlwings add-in.

The add-in's *Run main* button runs ``main()`` of the Python file named like
the workbook, in the same folder (the ``xlwings quickstart`` convention).
Assign the other functions to buttons with ``RunPython`` if you like:
``RunPython "import consumer_revolving_sample; consumer_revolving_sample.validate()"``.
"""

from xlabs.excel.entry import rate, rerun_stress, run_monte_carlo, validate, warm  # noqa: F401


def main():
    """Rate deal: validate the inputs, run the method, write the output sheets."""
    rate()
