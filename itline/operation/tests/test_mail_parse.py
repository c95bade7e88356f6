"""Reading raw e-mail: never raises, always gives readable text, and notes what was wrong."""

from itline.operation.mail.parse import (
    normalise_message_id,
    parse_mail,
    reference_in_message_id,
    strip_quoted_history,
)
from itline.operation.mail.testing import build_mail


def parse(raw, **kwargs):
    return parse_mail(raw, attachment_max_bytes=kwargs.pop("limit", 10_000), **kwargs)


def test_sender_subject_ids_and_thread_headers_are_read():
    mail = parse(
        build_mail(
            sender='"Bell, Anna" <Anna@Example.com>',
            subject="Re: [inc-42] Printer",
            in_reply_to="<b@x>",
            references="<root@x> <a@x> <b@x>",
        )
    )
    assert (mail.from_name, mail.from_address) == ("Bell, Anna", "Anna@Example.com")
    assert mail.subject_references == ["INC-000042"]
    assert mail.thread_ids == ["<b@x>", "<a@x>", "<root@x>"]
    assert mail.message_id == "<first-mail@mail.example.com>"


def test_encoded_words_in_unknown_charsets_and_raw_8bit_headers_are_decoded_with_notes():
    raw = b"From: =?x-bogus?Q?J=F6rg?= <jorg@example.com>\r\nSubject: =?utf-8?q?caf=C3=A9?= \xe9t\xe9\r\n\r\nhi\r\n"
    mail = parse(raw)
    assert mail.subject == "café été"
    assert mail.from_address == "jorg@example.com"
    assert any("x-bogus" in note or "Windows-1252" in note for note in mail.notes)
    assert any("8-bit" in note for note in mail.notes)


def test_garbage_gives_an_empty_but_valid_result_instead_of_an_error():
    mail = parse(b"\x00\xff\xfe garbage without headers", envelope_from=None)
    assert mail.from_address == ""
    assert mail.message_id.endswith("@no-message-id.invalid>")
    assert "\x00" not in mail.body


def test_the_envelope_sender_stands_in_for_a_missing_from_header():
    mail = parse(b"Subject: x\r\n\r\nbody\r\n", envelope_from="ops@example.com")
    assert mail.from_address == "ops@example.com"
    assert any("envelope sender" in n for n in mail.notes)


def test_an_attached_mail_is_one_file_and_inline_alternatives_are_not_files():
    from email import message_from_bytes, policy
    from email.message import EmailMessage

    inner = message_from_bytes(build_mail(subject="forwarded"), policy=policy.default)
    outer = EmailMessage()
    outer["From"] = "anna@example.com"
    outer.set_content("See below.")
    outer.add_alternative("<p>See below.</p>", subtype="html")
    outer.add_attachment(inner)
    mail = parse(outer.as_bytes(), limit=1_000_000)
    assert [a.mime_type for a in mail.attachments] == ["message/rfc822"]
    assert b"Subject: forwarded" in mail.attachments[0].content
    assert mail.attachments[0].filename.endswith(".eml")
    assert mail.body.strip() == "See below."


def test_a_base64_encoded_attached_mail_is_decoded():
    raw = build_mail(attachments=[("fwd.eml", build_mail(subject="forwarded"), "message/rfc822")])
    assert b"Content-Transfer-Encoding: base64" in raw
    [attached] = parse(raw, limit=1_000_000).attachments
    assert b"Subject: forwarded" in attached.content


def test_attachment_names_lose_their_folders_and_nameless_files_get_one():
    raw = build_mail(
        attachments=[
            ("..\\..\\windows\\evil.exe", b"MZ", "application/x-msdownload"),
            ("", b"x", "image/png"),
        ]
    )
    names = [a.filename for a in parse(raw).attachments]
    assert names[0] == "evil.exe"
    assert names[1].startswith("attachment-") and names[1].endswith(".png")


def test_message_ids_are_normalised_and_ours_name_their_record():
    assert normalise_message_id("  <a@b>  ") == "<a@b>"
    assert normalise_message_id("a@b") == "<a@b>"
    assert normalise_message_id("") == ""
    assert reference_in_message_id("<itline.REQ-7.abc@desk>") == "REQ-000007"
    assert reference_in_message_id("<someone-else@desk>") == ""


def test_quoted_history_is_cut_at_our_marker_or_a_trailing_quote_block():
    assert (
        strip_quoted_history("Yes.\n\n##- Please type your reply above this line -##\nold")
        == "Yes."
    )
    text = "Fine now.\n\nOn Mon, 2 Mar 2026 at 10:00, Desk <d@x> wrote:\n> earlier\n> text\n"
    assert strip_quoted_history(text) == "Fine now."
    inline = "> you asked\nMy answer\n> more\nend"
    assert strip_quoted_history(inline) == inline
