"""Sends a template message with pywa, a published WhatsApp Cloud API client, to Cowry's emulator:
proof that the emulator speaks the API as Meta's clients do, not only as Cowry's own adapter does.

pywa talks to https://graph.facebook.com/v{version}; an httpx request hook sends its requests to the
emulator instead (scheme, host and a path prefix), leaving everything else as pywa made it.

Usage: python3 wa_send.py EMULATOR_BASE PHONE_NUMBER_ID TOKEN TO
Prints {"id": <the message id pywa read back>} as JSON.
"""

import json
import sys

import httpx
from pywa import WhatsApp
from pywa.types.templates import TemplateLanguage


def main():
    base, phone_id, token, to = sys.argv[1:5]
    target = httpx.URL(base)

    def to_emulator(request: httpx.Request):
        request.url = request.url.copy_with(
            scheme=target.scheme,
            host=target.host,
            port=target.port,
            path=target.path.rstrip("/") + request.url.path,
        )

    session = httpx.Client(event_hooks={"request": [to_emulator]})
    wa = WhatsApp(phone_id=phone_id, token=token, session=session, api_version="21.0")
    sent = wa.send_template(
        to=to,
        name="cowry_reminder_professional",
        language=TemplateLanguage.ENGLISH,
        params=[{
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Acme Stores"},
                {"type": "text", "text": "NGN 5,000.00"},
                {"type": "text", "text": "30 Nov, 18:00"},
                {"type": "text", "text": "https://pay.example/x"},
            ],
        }],
    )
    print(json.dumps({"id": sent.id}))


if __name__ == "__main__":
    main()
