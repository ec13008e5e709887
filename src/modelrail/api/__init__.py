"""HTTP only: the dispatcher and the one request path (pipeline.py), one module per API dialect
(openai_endpoints.py, messages.py), one error renderer per dialect (errors.py), and admin/ (every
admin route, in its OpenAPI document)."""
