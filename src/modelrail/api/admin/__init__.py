"""The admin API under ``/admin/v1``: teams, keys, the audit log, usage and spend reports and the
router's deployments, with OpenAPI docs. Every admin route is here.

A FastAPI app that the dispatcher (api/pipeline.py) hands ``/admin`` to, for its generated OpenAPI
document; its errors leave in OpenAI's error shape like every other route.
"""

from modelrail.api.admin.app import build_admin_app

__all__ = ["build_admin_app"]
