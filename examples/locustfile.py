r"""A Locust load test of a Pipecat bot on Bandwidth: copy it next to your bot.

Each user places whole calls, one after another, as Bandwidth would: the webhook, the
media stream, the caller's audio (``--bwsim-audio FILE`` or ``--bwsim-archive DIR``), the
bot's audio, the hang-up. Run it on one machine::

    locust -f examples/locustfile.py --headless -u 10 -r 2 --run-time 1m \\
        --host http://127.0.0.1:7860 --bwsim-router-port 9050 --csv out/bot

or on many (a master, workers on every machine, one router): see benchmarks/README.md.
"""

from simulator.locust import BandwidthCallUser


class Caller(BandwidthCallUser):
    """One caller: says the audio, waits for the bot's answer, hangs up, calls again."""
