"""``python -m bot``: serve the bot with uvicorn on ``$HOST:$PORT``.

``HOST`` defaults to 127.0.0.1 and ``PORT`` to 7860 (the guide's); ``PORT=0`` takes any
free port, printed in uvicorn's "Uvicorn running on" line.
"""

from __future__ import annotations

import os

import uvicorn

if __name__ == "__main__":
    uvicorn.run(
        "bot.app:app",
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "7860")),
        log_level="info",
        ws="websockets-sansio",
    )
