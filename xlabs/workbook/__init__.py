"""Workbook layer: sheet schema, readers/writers behind a small adapter, validation with sheet!cell errors."""
