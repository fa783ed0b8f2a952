"""Slow HTTP clients: N connections from one address, each sending a
request one byte a second and never finishing it; a connection the server
closes is opened again at once, as an attacker would.  Prints, as JSON,
how many connections were opened and the longest time the server kept one
open (a connection still open at the end counts with its age).

    slow_clients.py PORT SOURCE_ADDRESS N SECONDS
"""
import json
import select
import socket
import sys
import time

port, source, n, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
request = b"GET /metrics HTTP/1.1\r\nHost: shipper\r\nX-Slow: " + b"x" * 4096
opened = 0
longest = 0.0
clients = {}  # socket -> (opened at, bytes sent)


def open_one():
    global opened
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        s.close()
        return
    s.setblocking(False)
    clients[s] = [time.monotonic(), 0]
    opened += 1


def close_one(s):
    global longest
    longest = max(longest, time.monotonic() - clients.pop(s)[0])
    s.close()


end = time.monotonic() + seconds
while time.monotonic() < end:
    while len(clients) < n:
        before = len(clients)
        open_one()
        if len(clients) == before:
            break
    readable, _, _ = select.select(list(clients), [], [], 0)
    for s in readable:
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            close_one(s)
    for s, state in list(clients.items()):
        try:
            s.send(request[state[1] % len(request):][:1])
            state[1] += 1
        except OSError:
            close_one(s)
    time.sleep(1)
for s in list(clients):
    close_one(s)
print(json.dumps({"opened": opened, "longest": round(longest, 1)}))
