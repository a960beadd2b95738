"""``bwsim replay``: a recorded call (:mod:`simulator.archive`) played again against a bot.

- :mod:`~simulator.replay.plan`: the archive → the call bwsim places (pure);
- :mod:`~simulator.replay.turns`: the caller's recording cut into turns, and when each
  is sent (pure);
- :mod:`~simulator.replay.facts` and :mod:`~simulator.replay.compare`: what the call did
  then and now, and what changed (pure);
- :mod:`~simulator.replay.caller`: the caller's script on the live call (asyncio);
- :mod:`~simulator.replay.run`: plan, place, compare.
"""
