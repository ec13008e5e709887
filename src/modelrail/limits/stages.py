"""Moved: building the pipeline's stages is :mod:`modelrail.stages_build`. Only the CLI's usage
commands still import ``ledger_url`` from here; this module goes when they import it from there."""

from modelrail.stages_build import ledger_url

__all__ = ["ledger_url"]
