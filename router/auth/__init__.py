"""Authentication and authorization of Agent Server requests: API keys (keys.py), the permission table
(permissions.py), authenticators that turn a request's headers into a Principal (principals.py), the
failed-authentication limit (limits.py) and the audit trail (audit.py). Only router.api knows HTTP;
this package sees headers as a mapping."""
