"""Team games over the network: the host (the one authority for simulated time and the order
of commands), the protocol it speaks, and the client that joins it.

    protocol  the versioned messages (pydantic), decoding with size limits
    roles     incident-command roles, their powers, join tokens (seats)
    host      the game a host runs: players, roles, commands in order, the clock, the
              facilitator's actions, what each client may receive (no aiohttp here)
    server    the aiohttp server around a host: websocket, limits, TLS
    client    `dojo join`: connecting, reconnecting, the line console

It sits above the store (a team game is one session in the host's database) and below
the TUI and the CLI; the headless core and the store never import it (or aiohttp).
"""
