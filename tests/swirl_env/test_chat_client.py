"""ChatCompletionsClient against a real misbehaving HTTP server on 127.0.0.1.

Every hostile reply must end, in bounded time and memory, as a clean :class:`ChatRequestError`
(or a recorded judge failure), never a hang, a ``RecursionError`` or a ``MemoryError``.
"""

from __future__ import annotations

import json
import math
import socket
import socketserver
import threading
import time
import tracemalloc
import zlib

import pytest

from swirl_env.chat_client import ChatCompletionsClient, ChatRequestError

OK = json.dumps({"choices": [{"message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}]})
CAP = 4 * 2**20  # the tests' reply cap (the default is 32 MiB)


def _bomb(wbits: int, mib: int = 32) -> bytes:
    """``mib`` MiB of zeros, compressed (gzip: about 1/1000 of that)."""
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = b"\0" * 2**20
    return b"".join([c.compress(block) for _ in range(mib)] + [c.flush()])


class Hostile(socketserver.ThreadingTCPServer):
    """One behaviour per path prefix: ``http://127.0.0.1:PORT/<mode>/v1/chat/completions``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, bytes]] = []
        self.gzip_bomb = _bomb(zlib.MAX_WBITS | 16)
        self.deflate_bomb = _bomb(zlib.MAX_WBITS)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{mode}/v1"


class _Handler(socketserver.BaseRequestHandler):
    def _read_request(self) -> tuple[str, bytes]:
        sock: socket.socket = self.request
        sock.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("client left")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v)
        while len(body) < length:
            body += sock.recv(65536)
        return lines[0].split()[1], body

    def _head(self, extra: str = "", length: int | None = None, status: str = "200 OK") -> bytes:
        size = f"Content-Length: {length}\r\n" if length is not None else ""
        return f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{size}{extra}\r\n".encode()

    def _drip(self, data: bytes, every: float = 0.1) -> None:
        end = time.monotonic() + 30  # the server gives up on its own eventually
        for i in range(len(data)):
            if time.monotonic() > end:
                return
            self.request.sendall(data[i : i + 1])
            time.sleep(every)

    def handle(self) -> None:
        try:
            path, body = self._read_request()
            self.server.requests.append((path, body))  # type: ignore[attr-defined]
            mode = path.strip("/").split("/")[0]
            getattr(self, "do_" + mode.replace("-", "_"))()
        except (ConnectionError, OSError):
            pass

    # -------------------------------------------------------------- behaviours
    def do_ok(self) -> None:
        data = OK.encode()
        self.request.sendall(self._head(length=len(data)) + data)

    def do_echo(self) -> None:  # the content is the request body (to see what was sent)
        sent = self.server.requests[-1][1].decode("utf-8")  # type: ignore[attr-defined]
        data = json.dumps({"choices": [{"message": {"content": sent}}]}).encode()
        self.request.sendall(self._head(length=len(data)) + data)

    def do_drip_headers(self) -> None:
        self._drip(self._head(length=len(OK)) + OK.encode())

    def do_drip_slow(self) -> None:  # a byte every 0.5 s: a server that drips its reply
        self._drip(self._head(length=len(OK)) + OK.encode(), every=0.5)

    def do_drip_body(self) -> None:
        data = OK.encode() + b" " * 1000
        self.request.sendall(self._head(length=len(data)))
        self._drip(data)

    def do_drip_chunked(self) -> None:
        self.request.sendall(self._head("Transfer-Encoding: chunked\r\n"))
        self._drip(b"".join(b"1\r\n" + bytes([c]) + b"\r\n" for c in OK.encode() + b" " * 200))

    def do_silent(self) -> None:
        time.sleep(5)

    def _stream(self, head: bytes, chunk: bytes, total: int) -> None:
        self.request.sendall(head)
        sent = 0
        while sent < total:
            self.request.sendall(chunk)
            sent += len(chunk)

    def do_huge(self) -> None:  # 200 MB announced and sent (unless the client hangs up)
        self._stream(self._head(length=200 * 2**20), b" " * 2**20, 200 * 2**20)

    def do_huge_chunked(self) -> None:  # no length at all: chunks until the client hangs up
        chunk = b"100000\r\n" + b"[" * 0x100000 + b"\r\n"
        self._stream(self._head("Transfer-Encoding: chunked\r\n"), chunk, 200 * 2**20)

    def do_gzip_bomb(self) -> None:
        bomb = self.server.gzip_bomb  # type: ignore[attr-defined]
        self.request.sendall(self._head("Content-Encoding: gzip\r\n", len(bomb)) + bomb)

    def do_deflate_bomb(self) -> None:
        bomb = self.server.deflate_bomb  # type: ignore[attr-defined]
        self.request.sendall(self._head("Content-Encoding: deflate\r\n", len(bomb)) + bomb)

    def do_gzip_ok(self) -> None:
        c = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        data = c.compress(OK.encode()) + c.flush()
        self.request.sendall(self._head("Content-Encoding: gzip\r\n", len(data)) + data)

    def do_raw_deflate_ok(self) -> None:
        c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = c.compress(OK.encode()) + c.flush()
        self.request.sendall(self._head("Content-Encoding: deflate\r\n", len(data)) + data)

    def do_brotli(self) -> None:
        self.request.sendall(self._head("Content-Encoding: br\r\n", 4) + b"\x00\x01\x02\x03")

    def do_bad_gzip(self) -> None:
        self.request.sendall(self._head("Content-Encoding: gzip\r\n", 9) + b"not gzip!")

    def _json(self, text: str) -> None:
        data = text.encode()
        self.request.sendall(self._head(length=len(data)) + data)

    def do_nested_list(self) -> None:
        self._json("[" * 100_000 + "]" * 100_000)

    def do_nested_object(self) -> None:
        self._json('{"a":' * 100_000 + "1" + "}" * 100_000)

    def do_nested_content(self) -> None:  # deep inside an otherwise valid reply
        self._json('{"choices": [{"message": {"content": "x"}}], "x": ' + "[" * 100_000 + "]" * 100_000 + "}")

    def do_long_number(self) -> None:
        self._json('{"choices": [{"message": {"content": "x"}}], "n": ' + "9" * 50_000 + "}")

    def do_bad_utf8(self) -> None:
        data = b'{"choices": [{"message": {"content": "\xff\xfe"}}]}'
        self.request.sendall(self._head(length=len(data)) + data)

    def do_big_ok(self) -> None:  # a large, legitimate reply just under the cap
        c = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        text = json.dumps({"choices": [{"message": {"content": "a" * (CAP - 100)}}]}).encode()
        data = c.compress(text) + c.flush()
        self.request.sendall(self._head("Content-Encoding: gzip\r\n", len(data)) + data)

    def do_redirect(self) -> None:  # a login page's redirect whose body looks like a completion
        data = OK.encode()
        head = self._head("Location: https://sso.example/login\r\n", len(data), "302 Found")
        self.request.sendall(head + data)

    def do_surrogate(self) -> None:
        self._json('{"choices": [{"message": {"content": "half \\ud83d an emoji"}}]}')


@pytest.fixture(scope="module")
def hostile():
    s = Hostile()
    yield s
    s.shutdown()
    s.server_close()


def _client(url: str, **kw) -> ChatCompletionsClient:
    kw = {
        "timeout": 0.5,
        "max_retries": 1,
        "backoff_base": 0.01,
        "backoff_max": 0.02,
        "max_reply_bytes": CAP,
        **kw,
    }
    return ChatCompletionsClient(url, api_key_env=None, **kw)


BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _fails(url: str, **kw) -> tuple[ChatRequestError, float, int]:
    """The error of one request, its wall time and the peak of Python allocations during it."""
    with _client(url, **kw) as client:
        tracemalloc.start()
        t0 = time.perf_counter()
        try:
            with pytest.raises(ChatRequestError) as err:
                client.complete(BODY)
            return err.value, time.perf_counter() - t0, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_a_well_behaved_server_still_works(hostile):
    with _client(hostile.url("ok")) as client:
        assert client.strict_deadline
        assert client.complete(BODY).content == "fine"
    for mode in ("gzip-ok", "raw-deflate-ok"):
        with _client(hostile.url(mode)) as client:
            assert client.complete(BODY).content == "fine", mode
    with _client(hostile.url("big-ok")) as client:  # the cap does not stop a large reply under it
        assert len(client.complete(BODY).content) == CAP - 100


@pytest.mark.parametrize("mode", ["drip-headers", "drip-body", "drip-chunked", "silent"])
def test_timeout_bounds_each_whole_attempt(hostile, mode):
    # 2 attempts of at most 0.4 s each, plus a 0.02 s backoff; a server dripping a byte every
    # 0.1 s (headers or body) never trips a per-read timeout, yet cannot stretch an attempt
    err, took, _ = _fails(hostile.url(mode), timeout=0.4)
    assert err.attempts == 2 and "timeout" in str(err)
    assert 0.75 < took < 1.3, (mode, took)


def test_the_issue_configuration_is_bounded(hostile):
    # timeout=1, max_retries=2 (the backoff scaled down): 3 attempts of 1 s, where 77 s were seen
    err, took, _ = _fails(hostile.url("drip-slow"), timeout=1.0, max_retries=2, backoff_base=0.05)
    assert err.attempts == 3
    assert 2.9 < took < 3.8, took


def test_total_timeout_bounds_the_whole_call_over_retries(hostile):
    err, took, _ = _fails(hostile.url("drip-body"), timeout=0.5, max_retries=10, total_timeout=1.2)
    assert err.attempts <= 3 and "total_timeout" in str(err), str(err)
    assert 1.0 < took < 1.5, took
    with pytest.raises(ValueError, match="total_timeout"):
        ChatCompletionsClient("http://x/v1", total_timeout=0)


@pytest.mark.parametrize("field", ["timeout", "total_timeout", "backoff_base", "backoff_max"])
@pytest.mark.parametrize("value", [math.nan, math.inf, 1e300, -1.0, True, "30"])
def test_every_wait_is_a_finite_number_of_seconds(field, value):
    """A NaN or infinite timeout would make every request fail with a message about something
    else (or never time out); it is refused when the client is made."""
    with pytest.raises(ValueError, match=f"{field} must be a number of seconds"):
        ChatCompletionsClient("http://x/v1", **{field: value})


@pytest.mark.parametrize("mode", ["huge", "huge-chunked", "gzip-bomb", "deflate-bomb"])
def test_reply_size_is_capped_after_decompression(hostile, mode):
    err, took, peak = _fails(hostile.url(mode), timeout=10, max_retries=1)
    assert err.attempts == 2 and "max_reply_bytes" in str(err), str(err)
    assert took < 5, (mode, took)
    # a 200 MB reply, or a 32 MB bomb, never lives in memory: only about the cap does
    assert peak < 3 * CAP, (mode, peak)


@pytest.mark.parametrize("mode", ["nested-list", "nested-object", "nested-content", "long-number"])
def test_unparseable_replies_are_clean_failures(hostile, mode):
    err, took, _ = _fails(hostile.url(mode))
    assert err.attempts == 2 and "malformed reply" in str(err), str(err)
    assert not isinstance(err.__cause__, RecursionError)
    assert took < 2, (mode, took)


@pytest.mark.parametrize("mode", ["brotli", "bad-gzip"])
def test_undecodable_bodies_are_clean_failures(hostile, mode):
    err, _, _ = _fails(hostile.url(mode))
    assert err.attempts == 2 and "unusable reply body" in str(err), str(err)


def test_a_redirect_is_an_error_naming_its_target_not_a_completion(hostile):
    err, took, _ = _fails(hostile.url("redirect"))
    assert err.attempts == 1 and err.status == 302 and "'https://sso.example/login'" in str(err)
    assert took < 2


def test_unencodable_text_is_sent_repaired_and_received_as_is(hostile, caplog):
    with _client(hostile.url("echo")) as client:
        reply = client.complete({"model": "m", "messages": [{"role": "user", "content": "a \ud83d b"}]})
    sent = json.loads(reply.content)
    assert sent["messages"][0]["content"] == "a \ufffd b"
    assert "U+FFFD" in caplog.text
    with _client(hostile.url("surrogate")) as client:  # a reply may hold one: the writer repairs it
        assert client.complete(BODY).content == "half \ud83d an emoji"
    with _client(hostile.url("bad-utf8")) as client:  # bytes that are not UTF-8 read as U+FFFD
        assert client.complete(BODY).content == "\ufffd\ufffd"


def test_judges_record_hostile_replies_as_failed_judgements(hostile):
    from swirl_env.rewards.judges.base import ProcessRequest
    from swirl_env.rewards.judges.openai import OpenAIProcessJudge

    for mode in ("nested-list", "drip-headers", "gzip-bomb"):
        judge = OpenAIProcessJudge(
            hostile.url(mode),
            "m",
            prompt="process-math-v1",
            timeout=0.5,
            max_retries=0,
            api_key_env="NO_SUCH_KEY_VAR",
        )
        t0 = time.perf_counter()
        [j] = judge.judge_steps([ProcessRequest(task=None, context=[], action="<math_exp>1+1</math_exp>")])
        judge.close()
        assert j.label is None and j.error, mode
        assert time.perf_counter() - t0 < 5, mode


def test_a_given_httpx_client_gets_the_deadline_too(hostile):
    import httpx

    with httpx.Client() as http:
        client = ChatCompletionsClient(
            hostile.url("drip-headers"), api_key_env=None, timeout=0.4, max_retries=0, client=http
        )
        assert client.strict_deadline
        t0 = time.perf_counter()
        with pytest.raises(ChatRequestError, match="timeout"):
            client.complete(BODY)
        assert time.perf_counter() - t0 < 0.8
        client.close()  # leaves the given client open
        assert not http.is_closed
        # outside this object's requests the transport has no deadline: a normal request works
        assert http.post(hostile.url("ok") + "/chat/completions", content=b"{}").json()["choices"]
