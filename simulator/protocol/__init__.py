"""The Bandwidth protocol, Sans-I/O.

The codec, media frames, BXML and how Bandwidth runs it, webhook bodies, ids. Nothing
here opens a socket, starts a task or reads a clock: times are arguments.
"""
