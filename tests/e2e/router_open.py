"""`python -m tests.e2e.router_open`: the router as `python -m router` runs it, but without API-key
auth, for the end-to-end suites written before auth (tests/e2e/test_auth*.py run the real
`python -m router`, which always requires keys)."""

from __future__ import annotations

import router.__main__ as router_entry

if __name__ == "__main__":
    router_entry.main(require_auth=False)
