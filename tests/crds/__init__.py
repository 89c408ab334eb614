"""Tests of the CRDs and examples; `schema` is reusable by other test suites."""
