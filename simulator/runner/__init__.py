"""Running bots and calls: targets, the harness, the scenario suite, load runs, loopback servers."""
