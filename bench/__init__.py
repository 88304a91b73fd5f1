"""LangOpen benchmark harness (see bench/README.md)."""
