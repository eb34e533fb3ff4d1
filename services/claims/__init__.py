"""Claims: adjudication of repair assessments."""
