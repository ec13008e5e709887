"""HTTP only: one module per endpoint family; handlers are thin."""
