"""Model files shipped with the package (see docs/sentiment.md for their provenance)."""
