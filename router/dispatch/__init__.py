"""Calls the function runtime: binary-mode CloudEvents over HTTP (contracts.runtime)."""
