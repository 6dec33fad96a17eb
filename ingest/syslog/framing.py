"""RFC 6587 framing on a TCP/TLS stream: octet counting (`LEN SP MSG`) or LF-terminated.

Each frame decides for itself (rsyslog does the same): a frame starting with a digit is octet
counted, any other is LF framed. A frame over the size limit is answered as bad (its reason)
and skipped, so one bad frame never loses the frames after it.
"""

from __future__ import annotations

from ingest.syslog.parse import Bad


class Framer:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._skip = 0  # bytes of an oversized octet-counted frame still to discard
        self._discard_line = False  # inside an oversized LF frame

    def feed(self, data: bytes) -> list[bytes | Bad]:
        """The complete frames in the stream so far (message bytes, or why one was bad)."""
        out: list[bytes | Bad] = []
        buf = self._buffer
        buf += data
        at = 0
        size = len(buf)
        while at < size:
            if self._skip:
                step = min(self._skip, size - at)
                self._skip -= step
                at += step
                continue
            if self._discard_line:
                end = buf.find(b"\n", at)
                if end < 0:
                    at = size
                    break
                self._discard_line = False
                at = end + 1
                continue
            first = buf[at]
            if 0x30 <= first <= 0x39:  # octet counting
                space = buf.find(b" ", at, at + 12)
                if space < 0:
                    if size - at >= 12 or not buf[at:size].isdigit():
                        out.append(Bad("octet count is not digits followed by a space"))
                        self._discard_line = True
                        continue
                    break  # the count itself is still arriving
                count_text = bytes(buf[at:space])
                if not count_text.isdigit():
                    out.append(Bad("octet count is not digits followed by a space"))
                    self._discard_line = True
                    continue
                count = int(count_text)
                if count > self.max_bytes:
                    out.append(Bad(f"frame of {count} bytes is over the {self.max_bytes} limit"))
                    self._skip = count
                    at = space + 1
                    continue
                if space + 1 + count > size:
                    break
                out.append(bytes(buf[space + 1 : space + 1 + count]))
                at = space + 1 + count
                continue
            end = buf.find(b"\n", at, at + self.max_bytes + 1)
            if end < 0:
                if size - at > self.max_bytes:
                    out.append(Bad(f"line is over the {self.max_bytes}-byte limit"))
                    self._discard_line = True
                    continue
                break
            frame = bytes(buf[at:end]).rstrip(b"\r")
            if frame.strip(b"\x00 "):
                out.append(frame)
            at = end + 1
        del buf[:at]
        return out

    def close(self) -> list[bytes | Bad]:
        """At end of stream: an unterminated last line is still a message (logger sends one)."""
        rest = bytes(self._buffer).strip(b"\r\n\x00 ")
        self._buffer.clear()
        if self._skip:
            return []
        if rest and not self._discard_line:
            if 0x30 <= rest[0] <= 0x39 and b" " in rest[:12] and rest[: rest.find(b" ")].isdigit():
                return [Bad("stream ended inside an octet-counted frame")]
            return [rest]
        return []
