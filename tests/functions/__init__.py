"""Tests of the function runtime (functions/): real LangGraph graphs, Postgres and Redis."""
