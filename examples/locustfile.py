r"""A Locust load test of a Pipecat bot on Bandwidth: copy it next to your bot.

Each user places whole calls, one after another, as Bandwidth would: the webhook, the
media stream, the caller's audio (``--bwsim-audio FILE`` or ``--bwsim-archive DIR``), the
bot's audio, the hang-up. Run it on one machine::

    locust -f examples/locustfile.py --headless -u 10 -r 2 --run-time 1m --stop-timeout 60 \
        --host http://127.0.0.1:7860 --bwsim-router-port 9050 --csv out/bot

with the bot's ``BANDWIDTH_OAUTH_URL``/``BANDWIDTH_VOICE_API_URL``/``BWSIM_CONTROL_URL``
pointing at the router (``http://127.0.0.1:9050/api/v1/oauth2/token``, ``…/api/v2``,
``…/_bwsim``) and the same secrets exported for both (``BANDWIDTH_CLIENT_ID``,
``BANDWIDTH_CLIENT_SECRET``, ``BANDWIDTH_ACCOUNT_ID``, ``BANDWIDTH_WEBHOOK_USERNAME``,
``BANDWIDTH_WEBHOOK_PASSWORD``, ``BWSIM_CONTROL_TOKEN``; any values).
``--stop-timeout`` (at least a call's length) lets the calls in flight at the end finish
and be counted.

On many machines (a master, workers on every machine, one router): see benchmarks/README.md.
"""

from simulator.locust import BandwidthCallUser


class Caller(BandwidthCallUser):
    """One caller: says the audio, waits for the bot's answer, hangs up, calls again."""
