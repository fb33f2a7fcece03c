"""A merchant endpoint for the delivery benchmarks: answers every POST 200 at once (keep-alive), counting
what it got and how many distinct `webhook-id`s; `GET /stats` answers `posts=N distinct=M`.
Usage: python3 bench/receiver.py PORT"""
import asyncio
import sys

count = 0
ids = set()


async def serve(reader, writer):
    global count
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if head.startswith(b"GET /stats"):
                body = f"posts={count} distinct={len(ids)}\n".encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
                continue
            length = 0
            for line in head.split(b"\r\n"):
                lower = line.lower()
                if lower.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
                elif lower.startswith(b"webhook-id:"):
                    ids.add(line.split(b":", 1)[1].strip())
            if length:
                await reader.readexactly(length)
            count += 1
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    async with server:
        await server.serve_forever()


asyncio.run(main())
