"""The reference bot: Bandwidth's Pipecat example bot, hardened, runnable offline.

Serve ``bot.app:app`` (or run ``python -m bot``). The modules, each owning one thing:

- ``config``: settings from the environment (the guide's ``env.example`` names);
- ``app``: the webhook (``POST /``) and the media socket (``/ws/{token}``);
- ``tokens``: one-time stream tokens, in memory or in Redis;
- ``pipeline``: the Pipecat pipeline on one media stream;
- ``tools``: ``transfer_to_human`` and ``end_call``, bound to the trusted call;
- ``voice_api``: the bot's own Voice API calls (hang-up, transfer);
- ``services``: the guide's providers when their keys are set, else bwsim's offline
  stand-ins from ``simulator.standins`` (scripted STT and LLM, espeak-ng TTS), whose
  conversation script is ``BOT_SCRIPT`` (default: ``simulator/standins/script.yaml``).
"""
