"""``python -m bot``: serve the bot with uvicorn on ``$HOST:$PORT``."""

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
