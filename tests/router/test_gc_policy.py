"""The router serves under contracts.gc_policy: objects alive after startup frozen, young collections
less often; both undone when its lifespan ends. Real Postgres and Redis for the lifespan."""

from __future__ import annotations

import gc

from contracts import gc_policy
from router.dispatch.targets import StaticTarget
from router.main import create_app
from router.settings import RouterSettings
from tests.router.conftest import APP_CONFIG


async def test_the_router_serves_with_startup_objects_frozen(
    pg_dsn: str, redis_url: str, redis_prefix: str
) -> None:
    settings = RouterSettings.model_validate(
        {
            "DATABASE_URL": pg_dsn,
            "REDIS_URL": redis_url,
            "redis_prefix": redis_prefix,
            "LANGOPEN_CONFIG": APP_CONFIG,
        }
    )
    app = create_app(settings, function_target=StaticTarget("http://127.0.0.1:1"), require_auth=False)
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    async with app.router.lifespan_context(app):
        assert gc.get_threshold()[0] == max(before[0], gc_policy.GEN0_THRESHOLD)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
