"""The auth stack (tests/auth/tenants.py), shared by the package's modules (which all run in the
`auth_stack` xdist group), and the cross-tenant matrix's pair count in the terminal summary."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.auth.tenants import Tenants, running_tenants


@pytest.fixture(scope="package")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    with running_tenants(tmp_path_factory.mktemp("auth-stack")) as running:
        yield running


@pytest.fixture
async def http(tenants: Tenants) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=tenants.stack.url, timeout=20.0) as client:
        yield client
