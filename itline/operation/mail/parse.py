"""Turn the raw bytes of an e-mail into plain facts: who sent it, what it answers, its text
and its files. Mail from the wild is often broken (unknown charsets, bytes that are not what
the header says, missing headers, absurd attachments), so nothing here raises: every problem
becomes a note and the best readable value, and the caller decides what to do.

Parsing knows nothing about the database; ``itline.operation.mail.inbound`` acts on the result."""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.policy
import hashlib
import mimetypes
import quopri
import re
from dataclasses import dataclass, field
from email.header import decode_header
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr

import html2text

# A reference in a subject, e.g. "Re: [INC-000042] Printer on fire". Digits are normalised to
# the six-digit form, so "[req-7]" finds REQ-000007 too.
SUBJECT_REFERENCE = re.compile(r"\[\s*(REQ|INC)-(\d{1,12})\s*\]", re.IGNORECASE)
# Our own Message-IDs carry the record reference: <itline.INC-000042.k3j4h5@desk.example.com>.
MESSAGE_ID_REFERENCE = re.compile(r"^<itline\.((?:REQ|INC)-\d{1,12})\.", re.IGNORECASE)
MESSAGE_ID_TOKEN = re.compile(r"<[^<>\s]{1,240}>")
# Outbound mails put this line on top; everything from it down in a reply is the quoted
# history the requester's mail program added.
REPLY_MARKER = "##- Please type your reply above this line -##"
_QUOTE_HEADER = re.compile(
    r"^\s*(On\s.{0,200}\swrote:|Am\s.{0,200}\sschrieb\s?.{0,80}:|Op\s.{0,200}\sschreef\s?.{0,80}:|-{2,}\s*Original Message\s*-{2,}|From:\s.+)\s*$",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

AUTO_SUBMITTED_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder")
BULK_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})


@dataclass
class ParsedAttachment:
    filename: str
    mime_type: str
    content: bytes
    size: int


@dataclass
class ParsedMail:
    """What the desk needs from one e-mail; ``notes`` lists what was wrong with it."""

    message_id: str
    message_id_made_up: bool
    from_address: str
    from_name: str
    to: list[str]
    cc: list[str]
    subject: str
    in_reply_to: list[str]
    references: list[str]
    body: str
    attachments: list[ParsedAttachment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    auto_reply: str = ""  # why this is an automatic mail ("" for a person's mail)
    received_count: int = 0
    loop_marker: str = ""  # our own X-Itline-Loop header, when the mail is an echo of ours
    size: int = 0

    @property
    def subject_references(self) -> list[str]:
        return [f"{p.upper()}-{int(n):06d}" for p, n in SUBJECT_REFERENCE.findall(self.subject)]

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs this mail answers, nearest first (In-Reply-To, then References from
        the newest back to the thread's root)."""
        seen: list[str] = []
        for mid in [*self.in_reply_to, *reversed(self.references)]:
            if mid not in seen:
                seen.append(mid)
        return seen


def clean_text(value: str) -> str:
    """A string that every database accepts: undecodable bytes (kept by the e-mail package
    as surrogates) decoded as UTF-8 or else Windows-1252, no NUL or control characters."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        raw = value.encode("utf-8", "surrogateescape")
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            value = raw.decode("cp1252", "replace")
    value = value.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("", value)


def _one_line(value: str) -> str:
    return " ".join(clean_text(value).split())


def normalise_message_id(value: str) -> str:
    """``<local@domain>`` with surrounding whitespace removed; ``""`` for nothing usable."""
    value = _one_line(value)
    found = MESSAGE_ID_TOKEN.search(value)
    if found:
        return found.group(0)
    if value and " " not in value and len(value) <= 240:
        return f"<{value.strip('<>')}>"
    return ""


def reference_in_message_id(message_id: str) -> str:
    found = MESSAGE_ID_REFERENCE.match(message_id)
    if not found:
        return ""
    prefix, number = found.group(1).split("-")
    return f"{prefix.upper()}-{int(number):06d}"


def _raw_header(msg: Message, name: str) -> str | None:
    """The header as received, without the e-mail package's interpretation (which raises on
    some broken values)."""
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            return str(value)
    return None


def _raw_headers(msg: Message, name: str) -> list[str]:
    wanted = name.lower()
    return [str(v) for k, v in msg.raw_items() if k.lower() == wanted]


def _decode_words(raw: str, notes: list[str], name: str) -> str:
    """Decode RFC 2047 encoded words, surviving unknown charsets and bad bytes."""
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        notes.append(f"The {name} header had unencoded 8-bit characters.")
        raw = clean_text(raw)
    try:
        parts = decode_header(raw)
    except Exception:  # a broken encoded word: keep the raw text
        notes.append(f"The {name} header could not be decoded; kept as received.")
        return _one_line(raw)
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        if charset is None:
            # decode_header hands back the plain text between encoded words this way.
            out.append(chunk.decode("raw-unicode-escape", "replace"))
            continue
        text, problem = decode_bytes(chunk, charset)
        if problem:
            notes.append(f"The {name} header: {problem}")
        out.append(text)
    # decode_header drops the space between an encoded word and plain text inconsistently;
    # joining decoded pieces with no separator follows RFC 2047 for adjacent encoded words.
    return _one_line("".join(out))


def _header(msg: Message, name: str, notes: list[str]) -> str:
    raw = _raw_header(msg, name)
    if raw is None:
        return ""
    return _decode_words(raw, notes, name)


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str]:
    """Decode ``data`` declared as ``charset``; returns the text and what went wrong ("" if
    nothing). Unknown charsets and bytes that do not fit fall back to UTF-8, then Windows-1252,
    so a message is always readable."""
    problem = ""
    if charset:
        charset = charset.strip().strip('"').lower()
        if charset in {"unknown-8bit", "x-unknown", "unknown"}:
            charset = None
    if charset:
        try:
            codecs.lookup(charset)
        except LookupError:
            problem = f"unknown character set {charset!r}; read as UTF-8."
            charset = None
    if charset:
        try:
            return data.decode(charset), problem
        except (UnicodeDecodeError, LookupError):
            problem = f"text is not valid {charset}; undecodable bytes replaced."
    try:
        return data.decode("utf-8"), problem
    except UnicodeDecodeError:
        if not problem:
            problem = "text is not valid UTF-8; read as Windows-1252."
        return data.decode("cp1252", "replace"), problem


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text(bodywidth=0)
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    converter.protect_links = False
    try:
        return converter.handle(html).strip()
    except Exception:  # html2text on pathological markup: fall back to tag stripping
        return re.sub(r"<[^>]*>", " ", html).strip()


def strip_quoted_history(body: str) -> str:
    """Drop what the sender's mail program quoted below the reply: everything from our reply
    marker on, or a trailing block of ``>`` lines under an "On ... wrote:" line."""
    if REPLY_MARKER in body:
        body = body.split(REPLY_MARKER, 1)[0]
        # Mail programs prefix the quoted marker with "> "; drop that tail and a header line.
        lines = body.rstrip().splitlines()
        while lines and (lines[-1].strip() in {"", ">"} or _QUOTE_HEADER.match(lines[-1])):
            lines.pop()
        body = "\n".join(lines)
    lines = body.rstrip().splitlines()
    end = len(lines)
    while end and (lines[end - 1].startswith(">") or not lines[end - 1].strip()):
        end -= 1
    if end < len(lines) and end and _QUOTE_HEADER.match(lines[end - 1]):
        lines = lines[: end - 1]
    return "\n".join(lines).strip()


def _part_text(part: Message, notes: list[str]) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    text, problem = decode_bytes(payload, part.get_content_charset())
    if problem:
        notes.append(f"The message text: {problem}")
    return clean_text(text).replace("\r\n", "\n")


def _safe_filename(name: str, mime_type: str, index: int) -> str:
    name = _one_line(name).replace("\\", "/").rsplit("/", 1)[-1].strip(". ")
    if not name:
        extension = mimetypes.guess_extension(mime_type) or ".bin"
        name = f"attachment-{index}{extension}"
    return name[-255:]


def _leaves(msg: Message) -> list[Message]:
    """The leaf parts in order; an attached e-mail (message/rfc822) is one leaf, a file."""
    if msg.get_content_maintype() == "message" or not msg.is_multipart():
        return [msg]
    leaves: list[Message] = []
    payload = msg.get_payload()
    for sub in payload if isinstance(payload, list) else []:
        if isinstance(sub, Message):
            leaves.extend(_leaves(sub))
    return leaves


def _message_part_bytes(part: Message) -> bytes:
    """The attached e-mail as bytes. Some programs base64-encode message/rfc822 parts (the
    standard forbids it); the e-mail package then sees the encoded text as the message."""
    try:
        inner = part.get_payload()
        inner_msg = inner[0] if isinstance(inner, list) and inner else inner
        data = inner_msg.as_bytes() if isinstance(inner_msg, Message) else b""
    except Exception:  # a nested message too broken to write back: keep what we can
        data = b""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding == "base64":
        try:
            return base64.b64decode(data, validate=False)
        except (ValueError, binascii.Error):
            return data
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    return data


def _body_part(msg: EmailMessage) -> Message | None:
    try:
        return msg.get_body(preferencelist=("plain", "html"))
    except Exception:  # malformed MIME structure: take the first text leaf instead
        for leaf in _leaves(msg):
            if leaf.get_content_type() in {"text/plain", "text/html"}:
                return leaf
        return None


def detect_auto_reply(msg: Message, envelope_from: str | None) -> str:
    """Why this mail was sent by a machine rather than a person (RFC 3834 and the headers
    common mail systems add), or ``""``."""
    auto = (_raw_header(msg, "Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    for name in AUTO_SUBMITTED_HEADERS:
        if _raw_header(msg, name) is not None:
            return f"{name} header"
    precedence = (_raw_header(msg, "Precedence") or "").strip().lower()
    if precedence in BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    suppress = (_raw_header(msg, "X-Auto-Response-Suppress") or "").strip()
    if suppress:
        return f"X-Auto-Response-Suppress: {suppress}"
    return_path = _raw_header(msg, "Return-Path")
    if return_path is not None and return_path.strip() in {"<>", ""}:
        return "empty Return-Path (a bounce)"
    if envelope_from is not None and envelope_from.strip() in {"", "<>"}:
        return "empty envelope sender (a bounce)"
    if msg.get_content_type() == "multipart/report":
        return "delivery report"
    return ""


def parse_mail(
    raw: bytes, *, attachment_max_bytes: int, envelope_from: str | None = None
) -> ParsedMail:
    """Read ``raw`` (the bytes of one e-mail); never raises for bad input."""
    notes: list[str] = []
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)

    message_id = normalise_message_id(_raw_header(msg, "Message-ID") or "")
    made_up = not message_id
    if made_up:
        # Same bytes, same id: a redelivered mail without a Message-ID is still recognised.
        message_id = f"<{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.invalid>"
        notes.append("The mail had no Message-ID.")

    from_name, from_address = parseaddr(_header(msg, "From", notes))
    if "@" not in from_address:
        from_name, from_address = parseaddr(_header(msg, "Sender", notes) or "")
    if "@" not in from_address:
        from_name, from_address = "", (envelope_from or "").strip("<>")
        if from_address:
            notes.append("The mail had no usable From header; the envelope sender was used.")
    if "@" not in from_address or " " in from_address:
        from_address = ""

    def addresses(name: str) -> list[str]:
        return [a for _, a in getaddresses([_header(msg, name, notes)]) if "@" in a]

    subject = _header(msg, "Subject", notes)[:250]
    in_reply_to = [
        normalise_message_id(t)
        for t in MESSAGE_ID_TOKEN.findall(_raw_header(msg, "In-Reply-To") or "")
    ]
    references = [
        normalise_message_id(t)
        for t in MESSAGE_ID_TOKEN.findall(" ".join(_raw_headers(msg, "References")))
    ]

    body_part = _body_part(msg)
    body = ""
    if body_part is not None:
        body = _part_text(body_part, notes)
        if body_part.get_content_type() == "text/html":
            body = html_to_text(body)

    attachments: list[ParsedAttachment] = []
    for index, part in enumerate(_leaves(msg), start=1):
        if part is body_part:
            continue
        mime_type = part.get_content_type()
        try:
            filename = part.get_filename() or ""
        except Exception:
            filename = ""
        disposition = part.get_content_disposition()
        if (
            not filename
            and disposition != "attachment"
            and mime_type in {"text/plain", "text/html"}
        ):
            continue  # the other alternative of the body, or a text footer added by a list
        name = _safe_filename(filename, mime_type, index)
        if part.get_content_maintype() == "message":
            content = _message_part_bytes(part)
            if not filename:
                name = f"attached-message-{index}.eml"
        else:
            payload = part.get_payload(decode=True)
            content = payload if isinstance(payload, bytes) else b""
        if len(content) > attachment_max_bytes:
            notes.append(
                f"Attachment {name!r} ({_size(len(content))}) was dropped: it is larger than the "
                f"limit of {_size(attachment_max_bytes)}."
            )
            continue
        attachments.append(ParsedAttachment(name, mime_type[:120], content, len(content)))

    received = len(_raw_headers(msg, "Received"))
    return ParsedMail(
        message_id=message_id,
        message_id_made_up=made_up,
        from_address=from_address,
        from_name=_one_line(from_name)[:150],
        to=addresses("To"),
        cc=addresses("Cc"),
        subject=subject,
        in_reply_to=[m for m in in_reply_to if m],
        references=[m for m in references if m],
        body=body,
        attachments=attachments,
        notes=notes,
        auto_reply=detect_auto_reply(msg, envelope_from),
        received_count=received,
        loop_marker=_one_line(_raw_header(msg, "X-Itline-Loop") or ""),
        size=len(raw),
    )


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"
