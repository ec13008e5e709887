"""The admin API under ``/admin/v1``: teams, keys and the audit log, with OpenAPI docs.

A FastAPI app mounted into the Starlette app, for its generated OpenAPI document; its errors leave
in OpenAI's error shape like every other route.
"""

from modelrail.api.admin.app import build_admin_app

__all__ = ["build_admin_app"]
