"""A watcher process for the socket tests: serves the listening socket whose descriptor is
its first argument, answering each connection with its pid, and prints what it does."""

from __future__ import annotations

import os
import socket
import sys


def main() -> None:
    server = socket.socket(fileno=int(sys.argv[1]))
    print(f"serving fd {sys.argv[1]}", flush=True)
    while True:
        conn, _ = server.accept()
        with conn:
            conn.sendall(f"{os.getpid()}\n".encode())
        print("answered", flush=True)


if __name__ == "__main__":
    main()
