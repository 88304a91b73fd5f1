"""`langgraph_sdk.Auth` objects the custom-auth tests load by `auth.path`."""
