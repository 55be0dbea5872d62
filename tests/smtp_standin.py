"""A small local SMTP server standing in for the clinic's mail relay: it records every message it receives."""

from __future__ import annotations

import socketserver
import threading
from email import message_from_bytes
from email.message import Message


class SmtpStandIn:
    """Speaks just enough SMTP (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) to receive messages; no STARTTLS."""

    def __init__(self, refuse_rcpt: bool = False, refuse_auth: bool = False) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        stand_in = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(b"220 stand-in ESMTP\r\n")
                sender, recipients = "", []
                while line := self.rfile.readline():
                    command = line.decode().strip()
                    verb = command.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.wfile.write(b"250-stand-in\r\n250 AUTH PLAIN\r\n")
                    elif verb == "AUTH":
                        self.wfile.write(b"535 authentication failed\r\n" if refuse_auth else b"235 ok\r\n")
                    elif verb == "MAIL":
                        sender = command.split(":", 1)[1].strip(" <>")
                        self.wfile.write(b"250 ok\r\n")
                    elif verb == "RCPT":
                        if refuse_rcpt:
                            self.wfile.write(b"550 no such user\r\n")
                            continue
                        recipients.append(command.split(":", 1)[1].strip(" <>"))
                        self.wfile.write(b"250 ok\r\n")
                    elif verb == "DATA":
                        self.wfile.write(b"354 go ahead\r\n")
                        data = bytearray()
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data.extend(chunk[1:] if chunk.startswith(b"..") else chunk)
                        stand_in.messages.append(message_from_bytes(bytes(data)))
                        stand_in.envelopes.append((sender, recipients))
                        self.wfile.write(b"250 queued\r\n")
                    elif verb == "QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 ok\r\n")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
