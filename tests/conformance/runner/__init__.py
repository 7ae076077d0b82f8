"""The modules behind `run-client-cases`: loading cases, building commands, talking to the
adapter and the server, judging results and reporting."""
