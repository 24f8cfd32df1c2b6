"""Excel boundary: input normalisation for UDFs and the macro entry points."""
