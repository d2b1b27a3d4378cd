"""/sync and real time: streams, the notifier, and the long-poll."""
