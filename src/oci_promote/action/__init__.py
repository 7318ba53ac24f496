"""The GitHub Action front end (`python -m oci_promote.action`, see action.yml).

The one package that imports github_action_utils and knows the runner. It knows nothing
of HTTP; the copy is `api.copy_async`, the check `forensics.verify_all`. By responsibility:
`inputs` (read and validate every input once), `report` (log groups, annotations, job
summary, output values), `commands` (the runner's file and workflow commands: masks,
outputs, summary, artifacts), `markdown` (safe summary cells) and `main` (the run).
"""

from __future__ import annotations

from ..lazy import skip_httpx_cli

skip_httpx_cli()  # before anything below can import httpx

from .inputs import INPUTS, NOT_INPUTS, SECRET_FIELDS, ActionInputError, ActionSettings, InputProblem  # noqa: E402
from .main import main  # noqa: E402
from .report import OUTPUTS  # noqa: E402

__all__ = [
    "INPUTS",
    "NOT_INPUTS",
    "OUTPUTS",
    "SECRET_FIELDS",
    "ActionInputError",
    "ActionSettings",
    "InputProblem",
    "main",
]
