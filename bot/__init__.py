"""The reference bot: Bandwidth's Pipecat example bot, hardened, runnable offline."""
