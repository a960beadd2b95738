"""The ``bwsim`` command: one module per subcommand, wired by :mod:`simulator.cli.main`."""
