#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets under tests/fuzz/corpus/.

The seeds are committed; this script says what they are and rebuilds them
(`python3 tests/fuzz/seeds.py`). Each HTTP seed starts with the target's
option bytes (see the comment at the top of http_request_fuzz.cpp and
http_response_fuzz.cpp); the PROXY and config seeds are plain input.
"""
import pathlib
import shutil
import socket
import struct

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"


def write(target, name, data):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


def request(name, text, flags=0, split=0, limit=0):
    # [flags][split, big-endian][limit] + bytes
    write("http_request", name, struct.pack(">BHB", flags, split, limit) + text)


def response(name, text, flags=0, split=0, requests=0, limit=0):
    # [flags][split, big-endian][requests][limit] + bytes
    write("http_response", name, struct.pack(">BHBB", flags, split, requests, limit) + text)


def http_requests():
    request("get", b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n"
            b"User-Agent: seed\r\nAccept: */*\r\n\r\n", split=20)
    request("post_content_length", b"POST /form HTTP/1.1\r\nHost: a\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world", split=70)
    request("post_chunked", b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nChecksum: x\r\n\r\n", split=66)
    request("pipelined", b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
            b"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
            b"GET /ignored HTTP/1.1\r\n", split=29)
    request("http10_keep_alive", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
            b"GET /2 HTTP/1.0\r\n\r\n", flags=0x04, split=44)
    request("expect_upgrade", b"PUT /data HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
            b"Content-Length: 2\r\n\r\nok"
            b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            split=60)
    request("body_limit", b"POST /big HTTP/1.1\r\nHost: a\r\nX-Pad: 0123456789\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n",
            flags=0x02, split=100, limit=9)
    request("header_limit", b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: 0123456789012345678901234567890123456789\r\n\r\n",
            flags=0x01, split=64, limit=10)
    request("eof_in_body", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc",
            flags=0x04, split=50)
    request("delete_rejected", b"DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n", split=9)


def http_responses():
    response("content_length", b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
             b"Content-Length: 5\r\n\r\nhello", split=30)
    response("chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"4;ext=1\r\nwiki\r\n5\r\npedia\r\n0\r\nExpires: never\r\n\r\n", split=50)
    response("chunked_decoded", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
             b"3\r\nabc\r\n0\r\n\r\n", flags=0x01, split=58)
    response("close_delimited", b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html></html>",
             flags=0x04, split=44)
    response("http10", b"HTTP/1.0 200 OK\r\nServer: seed\r\n\r\nbody until close",
             flags=0x04, split=10)
    response("head_then_get", b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
             b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!", split=40, requests=0x01)
    response("continue", b"HTTP/1.1 100 Continue\r\n\r\n"
             b"HTTP/1.1 201 Created\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", split=25)
    response("switching", b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
             b"Upgrade: websocket\r\n\r\n\x81\x05hello", split=70, requests=0x02)
    response("keep_alive_series", b"HTTP/1.1 204 No Content\r\n\r\n"
             b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"
             b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
             split=27)
    response("limits", b"HTTP/1.1 200 OK\r\nX-Pad: 0123456789abcdef\r\nContent-Length: 40\r\n\r\n"
             b"0123456789012345678901234567890123456789", flags=0x0A, split=30, limit=12)


def v2(command, family, block, tlvs=b""):
    signature = b"\r\n\r\n\x00\r\nQUIT\n"
    payload = block + tlvs
    return signature + bytes([0x20 | command, family]) + struct.pack(">H", len(payload)) + payload


def proxy_protocol():
    client = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    write("proxy_protocol", "v1_tcp4", b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n" + client)
    write("proxy_protocol", "v1_tcp6", b"PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 56324 443\r\n")
    write("proxy_protocol", "v1_unknown", b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n" + client)
    inet = socket.inet_aton("10.1.2.3") + socket.inet_aton("10.9.8.7") + struct.pack(">HH", 40000, 80)
    write("proxy_protocol", "v2_tcp4_tlv", v2(1, 0x11, inet, b"\x04\x00\x03abc") + client)
    inet6 = (socket.inet_pton(socket.AF_INET6, "2001:db8::7") +
             socket.inet_pton(socket.AF_INET6, "::1") + struct.pack(">HH", 1234, 8443))
    write("proxy_protocol", "v2_tcp6", v2(1, 0x21, inet6))
    write("proxy_protocol", "v2_local", v2(0, 0x00, b"") + client)
    write("proxy_protocol", "v2_unspec", v2(1, 0x00, b""))
    write("proxy_protocol", "v2_unix", v2(1, 0x31, b"/run/a".ljust(108, b"\0") + b"/run/b".ljust(108, b"\0")))


def configs():
    for path in sorted((HERE.parent.parent / "config").glob("*.yaml")):
        directory = CORPUS / "config"
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, directory / path.name)


if __name__ == "__main__":
    http_requests()
    http_responses()
    proxy_protocol()
    configs()
