"""The HTTP protocol ``c2c serve`` runs uvicorn with: uvicorn's own, except that a request it
cannot parse (a Content-Length that is not a number, a broken request line) is answered in the
API's JSON error shape instead of uvicorn's plain text."""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from api.errors import error_body

MESSAGE = "malformed HTTP request (check the request line, the headers and Content-Length)"


def _body() -> bytes:
    return json.dumps(error_body(400, "bad_request", MESSAGE)).encode("utf-8")


class JsonErrorsHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with JSON 400 responses."""

    def send_400_response(self, msg: str) -> None:
        body = _body()
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend([
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"connection: close\r\n",
            b"\r\n",
            body,
        ])
        self.transport.write(b"".join(content))
        self.transport.close()


class JsonErrorsH11(H11Protocol):
    """uvicorn's h11 protocol with JSON 400 responses."""

    def send_400_response(self, msg: str) -> None:
        body = _body()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("ascii")),
                   (b"connection", b"close")]
        self.transport.write(self.conn.send(h11.Response(status_code=400, headers=headers, reason=b"Bad Request")))
        self.transport.write(self.conn.send(h11.Data(data=body)))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()


#: What to hand uvicorn as ``http``.
HTTP_PROTOCOL = "api.server:JsonErrorsHttpTools"
