"""Serve the workbench (:mod:`experiments.app`) with Solara's own server, offline.

``bth app [RESULTS_DIR] [--host 127.0.0.1] [--port 8765]`` calls :func:`serve`.  The page's
assets (Vue, Vuetify, the widgets) come from the installed solara package; nothing is fetched
from a CDN.  Solara's usage telemetry and its Font Awesome stylesheet (fetched through its CDN
proxy) are switched off, so the app makes no request outside the machine.  It listens on
loopback unless told otherwise: anyone who can reach the port can run simulations.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

APP_MODULE = "experiments.app"
RESULTS_ENV = "BTH_RESULTS_DIR"  # the results folder the app opens first

# Solara's settings are read when solara.server is first imported: set them before.
SOLARA_ENV = {
    "SOLARA_APP": APP_MODULE,
    "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",  # no usage statistics sent to mixpanel.com
    "SOLARA_ASSETS_FONTAWESOME_ENABLED": "False",  # would be fetched through the CDN proxy
    "SOLARA_THEME_SHOW_BANNER": "False",
    "SOLARA_THEME_TITLE": "BTH workbench",
    "SOLARA_MODE": "production",
}


def serve(results_dir: str | Path, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the app for ``results_dir`` on ``host:port`` until interrupted."""
    os.environ[RESULTS_ENV] = str(Path(results_dir).resolve())
    os.environ.update(SOLARA_ENV)
    os.environ["SERVER_NAME"], os.environ["SERVER_PORT"] = host, str(port)
    import uvicorn

    # Solara warns once that it falls back to SameSite=Lax cookies over plain http: that is what a
    # server on 127.0.0.1 wants, so the warning only alarms the user
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")

    print(f"bth app: serving {results_dir} on http://{host}:{port}/ (Ctrl-C stops it)",
          file=sys.stderr, flush=True)
    uvicorn.run("solara.server.starlette:app", host=host, port=port, log_level="warning",
                ws="auto", lifespan="on", timeout_graceful_shutdown=2)
