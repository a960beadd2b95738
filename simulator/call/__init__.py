"""The asyncio shells that run one call.

The session, the media-stream driver, the pacer, the webhook sender and the recorder:
each executes what :mod:`simulator.protocol` decides and moves the bytes.
"""
