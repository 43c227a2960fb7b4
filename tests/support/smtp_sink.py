"""A real SMTP server for the email tests (aiosmtpd): takes every message
and writes it to OUT_DIR as one JSON file (envelope, subject and the
decoded plain-text body), named in arrival order. Listens on 127.0.0.1,
on PORT or one the system chooses, prints the port, then serves until
killed. The API tests and the browser tests (end2end/) both use it.

    python3 tests/support/smtp_sink.py OUT_DIR [PORT]
"""

import asyncio
import email
import email.policy
import json
import os
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(("plain",))
        self.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["from"]),
            "to": str(message["to"]),
            "subject": str(message["subject"]),
            # As the person reads it: SMTP's CRLF line ends as plain newlines.
            "text": body.get_content().replace("\r\n", "\n") if body is not None else "",
        }
        # Written whole, then renamed, so a reader never sees half a file.
        name = os.path.join(self.out_dir, "%04d.json" % self.count)
        with open(name + ".tmp", "w", encoding="utf-8") as file:
            json.dump(record, file)
        os.rename(name + ".tmp", name)
        return "250 OK"


async def main():
    sink = Sink(sys.argv[1])
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, hostname="sink.test"), "127.0.0.1", port)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


asyncio.run(main())
