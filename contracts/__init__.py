"""What two LangOpen processes must agree on. No I/O: stdlib and pydantic only."""
