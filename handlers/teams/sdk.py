"""The Teams SDK, imported with its `.env` loading switched off (see handlers/teams/__init__.py)."""
from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings

_SDK_APP_MODULE = "microsoft_teams.apps.app"
_DOTENV_SWITCH = "PYTHON_DOTENV_DISABLED"


def _import_sdk_without_dotenv() -> None:
    if _SDK_APP_MODULE in sys.modules:
        logging.getLogger(__name__).warning(
            "the Teams SDK was imported before handlers.teams: it may have loaded a .env file")
        return
    previous = os.environ.get(_DOTENV_SWITCH)
    os.environ[_DOTENV_SWITCH] = "1"
    try:
        with warnings.catch_warnings():  # its preview HTML-widget policy warns on stderr at import: not ours to act on
            warnings.filterwarnings("ignore", message="HtmlWidgetSecurityPolicy is in preview")
            importlib.import_module(_SDK_APP_MODULE)
    finally:
        if previous is None:
            os.environ.pop(_DOTENV_SWITCH, None)
        else:
            os.environ[_DOTENV_SWITCH] = previous


_import_sdk_without_dotenv()
