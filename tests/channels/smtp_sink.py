"""A real SMTP server for the email tests (aiosmtpd, the asyncio SMTP server), on 127.0.0.1:<port>.

Prints "ready" once it listens, then one JSON line per message it accepts: the envelope (mail_from,
rcpt_tos) and the message as a mail reader would parse it (subject, from, to, each part's type and
decoded text). Runs until its stdin closes.

Usage: python3 smtp_sink.py PORT
"""

import email
import email.policy
import json
import sys

from aiosmtpd.controller import Controller


class Sink:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = []
        for part in message.walk():
            if part.is_multipart():
                continue
            parts.append({"type": part.get_content_type(), "text": part.get_content()})
        print(json.dumps({
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": message["subject"],
            "from": message["from"],
            "to": message["to"],
            "content_type": message.get_content_type(),
            "parts": parts,
        }), flush=True)
        return "250 Message accepted for delivery"


def main():
    port = int(sys.argv[1])
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
