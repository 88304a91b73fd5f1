"""The served OpenAPI document: the official one (`upstream.json`) for the official operations."""
