"""Sends an SMS the way a merchant's own code would: with Africa's Talking's published Python library
(`africastalking` on PyPI), unchanged, pointed at Cowry's emulator instead of api.africastalking.com.

    python3 at_send.py <emulator base URL> <username> <api key>

Prints the library's answer as JSON.
"""
import json
import sys

from africastalking.SMS import SMSService

base, username, api_key = sys.argv[1:4]
sms = SMSService(username, api_key)
# The library's only knob for its host is the production/sandbox choice; the emulator stands in for it.
sms._baseUrl = base + "/version1"
answer = sms.send(
    "Ada, a reminder: NGN 5,000.00 is due to Acme Stores by 30 Nov, 18:00.",
    ["+2348012345678", "+2348010000406"],
    sender_id="ACME",
)
print(json.dumps(answer))
