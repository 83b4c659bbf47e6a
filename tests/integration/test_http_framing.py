"""Strict request framing (issue #13, item 1): no request smuggling through a
chunked body, and chunked bodies reach the backend re-framed.

The attack from the issue, against a real nginx: a chunk-size line with a bare
LF in its extension ("3c;\\n..."). nginx ends the line at the LF; Debian's
http-parser did not, so sluice and nginx disagreed on where the request ended
and the bytes sluice took for chunk data were a second request for nginx. Its
response then waited on the pooled upstream connection for the next client.
"""

import socket

from harness import Sluice, free_port, http_config, is_closed, status_of, wait_for
from servers import Nginx, ScriptedBackend, expect, read_to_eof, repeat, response, send


# nginx answers `return` locations without reading the request body; /read
# reads the whole body first (proxy_pass buffers it), like most applications.
def reading_nginx():
    inner = free_port()
    return Nginx(locations=f"""
    location / {{ return 200 "hello\\n"; }}
    location /read {{ proxy_pass http://127.0.0.1:{inner}/; }}
""", extra=f"""
  server {{
    listen 127.0.0.1:{inner};
    location / {{ return 200 "smuggled\\n"; }}
  }}
""")


def attack_request():
    # For nginx: size line "3c;\n", 0x3c bytes of 'A', CRLF, last chunk: the
    # POST ends, and `smuggled` is the next request on the connection. For a
    # lenient parser the size line runs to the first CRLF and `smuggled` is
    # chunk data. The smuggled POST's Content-Length covers the rest of the
    # framing and 20 bytes more: nginx waits for them, and they come from the
    # next client's request on the same pooled connection, which becomes the
    # smuggled request's body; that client then reads the smuggled response.
    smuggled_head = b"POST /read HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n"
    tail_after_data = b"\r\n0\r\n\r\n"  # what the lenient parser reads after its chunk data
    head_len = len(smuggled_head % 10)
    pad = 0x3C - len(b"0\r\n\r\n") - head_len
    smuggled = (smuggled_head % (pad + len(tail_after_data) + 20)) + b"B" * pad
    assert len(b"0\r\n\r\n" + smuggled) == 0x3C
    return (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3c;\n" + b"A" * 0x3C + b"\r\n" + b"0\r\n\r\n" + smuggled + tail_after_data)


def read_answer(sock, timeout=5.0):
    """What the server sends until it closes, or until `timeout` of silence."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                break
            data += d
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def get_once(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: h\r\nCookie: secret=victim\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 6:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    return data


def test_bare_lf_in_a_chunk_extension_is_400_and_smuggles_nothing():
    with reading_nginx() as nginx:
        port = free_port()
        # One worker and one pooled connection: every request shares it.
        config = http_config([nginx.port], port, pool={"max_connections": 1, "min_idle": 0})
        with Sluice(config, workers=1) as sluice:
            # Warm the pool so the attack and the victim use the same upstream connection.
            assert status_of(get_once(port, b"/")) == 200
            wait_for(lambda: sluice.stats()["clusters"][0]["backends"][0]["idle"] == 1,
                     what="connection back in the pool")

            attacker = socket.create_connection(("127.0.0.1", port), timeout=5)
            attacker.sendall(attack_request())
            # sluice closes at once; a keep-alive answer means no close (1 s).
            answer = read_answer(attacker, timeout=1)
            closed = is_closed(attacker, timeout=0.2)
            attacker.close()

            # An unrelated client on the same upstream connection gets its own
            # answer, not the smuggled one (before the fix: "smuggled\n", and
            # its request line and Cookie were the smuggled request's body).
            for _ in range(3):
                victim = get_once(port, b"/")
                assert b"smuggled" not in victim, victim
                assert status_of(victim) == 200, victim
                assert victim.endswith(b"hello\n"), victim

            assert status_of(answer) == 400, answer
            assert b"invalid_chunk" in answer
            assert closed


def test_valid_chunked_request_reaches_the_backend_reframed():
    # Each request (any number per connection) answered 200 after its chunked body.
    with ScriptedBackend([repeat(expect(), send(response(b"ok")))]) as backend:
        port = free_port()
        with Sluice(http_config([backend.port], port)):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5 ; name=\"quoted \\\" value\";flag\r\nhello\r\n"
                      b"00B;x=y\r\n, world!!!!\r\n"
                      b"0;end\r\nX-Checksum: 16 \r\nContent-Length: 99\r\n\r\n")
            answer = b""
            while not answer.endswith(b"ok"):
                d = s.recv(65536)
                if not d:
                    break
                answer += d
            s.close()
            assert status_of(answer) == 200, answer
            wait_for(lambda: len(backend.requests) == 1, what="request at the backend")
            head, _, body = backend.requests[0].raw.partition(b"\r\n\r\n")
            assert b"Transfer-Encoding: chunked" in head
            assert body == (b"5\r\nhello\r\nb\r\n, world!!!!\r\n"
                            b"0\r\nX-Checksum: 16\r\n\r\n")


def test_bare_lf_in_a_response_chunk_extension_closes_both_sides():
    # The backend's chunked answer has a bare LF in a chunk extension. The head
    # went out already, so the client cannot get a 502: sluice closes both
    # connections and relays none of the ambiguous body.
    # Each connection: a request, the bad answer, then read until sluice closes
    # (a pre-warmed pool connection that is never used ends at the request).
    bad = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"3;\n\r\nabc\r\n0\r\n\r\n")
    with ScriptedBackend([expect(), send(bad), read_to_eof()]) as backend:
        port = free_port()
        with Sluice(http_config([backend.port], port)):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            answer = read_answer(s, timeout=3)
            assert is_closed(s, timeout=1)
            s.close()
            assert b"abc" not in answer, answer
            wait_for(lambda: backend.eofs >= 1, timeout=5,
                     what="the upstream connection closed (sluice kept it)")
