"""The fake's REST side: Bandwidth's OAuth and Voice API, and the state behind them.

The ASGI app, the call registry, the journal of requests, fault injection, and the
interception that routes a bot's hard-coded Bandwidth requests here.
"""
