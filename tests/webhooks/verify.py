"""Verifies deliveries the way a merchant would: with the published `standardwebhooks` library,
unchanged. Reads {"secret": "whsec_…", "deliveries": [{"headers": {...}, "body": "..."}]} on stdin;
prints how many verified, exits 1 naming the first that does not."""
import json
import sys

from standardwebhooks.webhooks import Webhook

given = json.load(sys.stdin)
hook = Webhook(given["secret"])
for n, delivery in enumerate(given["deliveries"]):
    try:
        hook.verify(delivery["body"], delivery["headers"])
    except Exception as e:  # noqa: BLE001 - any failure is the answer
        print(f"delivery {n} ({delivery['headers'].get('webhook-id')}) does not verify: {e!r}")
        sys.exit(1)
print(len(given["deliveries"]))
