#!/usr/bin/python3
"""stall_smtp.py PORT MODE - an SMTP server that misbehaves, for timeouts.

MODE data: answers everything until the end of DATA, then never answers.
MODE greet: accepts the connection and never greets.
Prints "ready" when listening; serves until killed.
"""
import socket
import sys
import threading
import time


def serve(c, mode):
    f = c.makefile("rb")
    if mode == "greet":
        time.sleep(3600)
        return
    c.sendall(b"220 stall.example.test ESMTP\r\n")
    for line in f:
        cmd = line.strip().upper()
        if cmd.startswith(b"EHLO") or cmd.startswith(b"HELO"):
            c.sendall(b"250-stall.example.test\r\n250 PIPELINING\r\n")
        elif cmd.startswith(b"MAIL") or cmd.startswith(b"RCPT") or cmd.startswith(b"RSET"):
            c.sendall(b"250 2.0.0 ok\r\n")
        elif cmd == b"DATA":
            c.sendall(b"354 go on\r\n")
            for l in f:
                if l in (b".\r\n", b".\n"):
                    break
            time.sleep(3600)    # the end of DATA is never answered
        elif cmd == b"QUIT":
            c.sendall(b"221 bye\r\n")
            return


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(5)
    print("ready", flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, mode), daemon=True).start()


main()
