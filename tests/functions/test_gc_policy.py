"""The function app serves under contracts.gc_policy: startup objects frozen and young collections
rarer while its lifespan runs; both process-wide settings are restored when it ends."""

from __future__ import annotations

import gc

from contracts import gc_policy
from functions.app import create_app
from functions.settings import FunctionSettings
from tests.functions.conftest import CONFIG_PATH


async def test_the_app_serves_with_the_collector_tuned(pg_dsn: str, redis_url: str) -> None:
    before = gc.get_threshold()
    settings = FunctionSettings(database_url=pg_dsn, redis_url=redis_url, config_path=CONFIG_PATH)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert app.state.services is not None
        assert gc.get_threshold()[0] == max(before[0], gc_policy.GEN0_THRESHOLD)
        assert gc.get_freeze_count() > 0  # the imported graphs, pools, clients: never walked again
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
