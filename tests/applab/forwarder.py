"""The lab's data plane: inbound TCP that the capture layer redirected here is delivered to
``127.0.0.1:<port>`` (Istio < 1.10, Linkerd < 2.11, Consul, Istio's LOCALHOST policy) or to
``<pod IP>:<port>`` (later sidecars, ambient's ztunnel), the original port read with
``SO_ORIGINAL_DST`` as Envoy reads it. A refused upstream closes the accepted connection, as Envoy
does. Every delivery and refusal is logged (one line each) so a verdict can check what happened.

    python forwarder.py PORT localhost|pod-ip POD_IP
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys

SO_ORIGINAL_DST = 80


def original_port(sock: socket.socket) -> int:
    data = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port: int = struct.unpack_from("!H", data, 2)[0]
    return port


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(listen: int, delivery: str, pod_ip: str) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = original_port(writer.get_extra_info("socket"))
        target = "127.0.0.1" if delivery == "localhost" else pod_ip
        try:
            up_reader, up_writer = await asyncio.open_connection(target, port)
        except OSError as exc:
            print(f"refused {target}:{port} ({exc.strerror})", flush=True)
            writer.close()
            return
        print(f"delivered {target}:{port}", flush=True)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "0.0.0.0", listen)
    print(f"listening {listen} delivery {delivery}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
