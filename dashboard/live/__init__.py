"""The live stream: publishing to an experiment's (or a user's list's) Channels group from
anywhere, the WebSocket consumers that forward those messages, and their routes."""
