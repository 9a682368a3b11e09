"""Actions: reversible masking (also across streamed chunks), redaction, blocking, allowing."""

from __future__ import annotations

import pytest

from gureum.errors import PolicyBlocked
from gureum.governance.pii import Action, StreamUnmasker, Vault, apply, detect, unmask

TEXT = "김유진님 010-5079-3440 로 연락 주세요. 다시 말해 010-5079-3440, 메일 eunji.jung@gmail.com"
MASK_ALL = {t: Action.MASK for t in ("PERSON", "KR_PHONE", "EMAIL")}


def test_mask_round_trip_with_stable_placeholders() -> None:
    result = apply(TEXT, detect(TEXT), MASK_ALL)
    assert result.text == "<PERSON_1>님 <KR_PHONE_1> 로 연락 주세요. 다시 말해 <KR_PHONE_1>, 메일 <EMAIL_1>"
    assert result.types_seen == {"PERSON", "KR_PHONE", "EMAIL"}
    assert unmask(result.text, result.vault) == TEXT


def test_one_vault_spans_the_messages_of_a_request() -> None:
    vault = Vault()
    first = apply("010-1111-2222", detect("010-1111-2222"), MASK_ALL, vault=vault)
    text = "010-3333-4444 그리고 010-1111-2222"
    second = apply(text, detect(text), MASK_ALL, vault=vault)
    assert first.text == "<KR_PHONE_1>"
    assert second.text == "<KR_PHONE_2> 그리고 <KR_PHONE_1>"
    assert unmask("답장: <KR_PHONE_2>, <KR_PHONE_1>", vault) == "답장: 010-3333-4444, 010-1111-2222"


def test_redact_allow_and_default() -> None:
    result = apply(TEXT, detect(TEXT), {"KR_PHONE": Action.REDACT, "EMAIL": Action.ALLOW})
    # PERSON is not in the mapping, so it gets the default: mask.
    assert result.text == "<PERSON_1>님 [KR_PHONE] 로 연락 주세요. 다시 말해 [KR_PHONE], 메일 eunji.jung@gmail.com"
    assert len(result.vault) == 1
    allowed = apply(TEXT, detect(TEXT), {}, default=Action.ALLOW)
    assert allowed.text == TEXT and len(allowed.vault) == 0


def test_block_names_the_type_and_never_the_value() -> None:
    text = "주민등록번호 880524-2513473, 이메일 a@b.co"
    with pytest.raises(PolicyBlocked) as caught:
        apply(text, detect(text), {"KR_RRN": Action.BLOCK, "EMAIL": Action.MASK})
    error = caught.value
    assert "KR_RRN" in error.message
    rendered = str(error) + repr(error.body())
    assert "880524" not in rendered and "2513473" not in rendered and "a@b.co" not in rendered
    assert error.status == 403 and error.code == "policy_blocked"


def test_unmask_leaves_foreign_placeholders_alone() -> None:
    vault = Vault()
    vault.placeholder("EMAIL", "a@b.co")
    assert unmask("<EMAIL_1> <EMAIL_2> <b>", vault) == "a@b.co <EMAIL_2> <b>"


def test_vault_repr_hides_values() -> None:
    vault = Vault()
    vault.placeholder("KR_PHONE", "010-1234-5678")
    assert "010" not in repr(vault)


REPLY = "네, <PERSON_1>님. <KR_PHONE_1>로 연락드릴게요 <b>확인</b> <KR_PHONE_12> <EMAIL_1>"


def _vault() -> Vault:
    vault = Vault()
    vault.placeholder("PERSON", "김유진")
    vault.placeholder("KR_PHONE", "010-5079-3440")
    vault.placeholder("EMAIL", "eunji.jung@gmail.com")
    return vault


def test_stream_unmask_with_a_split_at_every_position() -> None:
    expected = unmask(REPLY, _vault())
    assert "김유진" in expected and "010-5079-3440" in expected and "eunji.jung@gmail.com" in expected
    for cut in range(len(REPLY) + 1):
        stream = StreamUnmasker(_vault())
        assert stream.feed(REPLY[:cut]) + stream.feed(REPLY[cut:]) + stream.flush() == expected, cut


def test_stream_unmask_one_character_at_a_time() -> None:
    stream = StreamUnmasker(_vault())
    out = "".join(stream.feed(ch) for ch in REPLY) + stream.flush()
    assert out == unmask(REPLY, _vault())


def test_stream_holds_back_only_a_possible_placeholder_prefix() -> None:
    stream = StreamUnmasker(_vault())
    assert stream.feed("연락처는 <KR_PH") == "연락처는 "
    assert stream.feed("ONE_1> 입니다 <b") == "010-5079-3440 입니다 <b"
    assert stream.feed("r> 끝 <EMAIL_") == "r> 끝 "
    assert stream.flush() == "<EMAIL_"


def test_stream_with_an_empty_vault_passes_through() -> None:
    stream = StreamUnmasker(Vault())
    assert stream.feed("<KR_PH") == "<KR_PH"


def test_a_found_value_is_masked_wherever_it_occurs() -> None:
    """The detector may miss a value glued to other characters; once found anywhere in a request,
    it is masked everywhere in it, with the same placeholder."""
    from gureum.governance.pii import apply_all, detect

    texts = ["연락처 010-1234-5678 입니다", "x010-1234-5678y", "다시 010-1234-5678010-1234-5678"]
    found = [detect(t) for t in texts]
    assert not found[1]  # the detector alone does not see it there
    out, vault = apply_all(texts, found, {"KR_PHONE": "mask"})
    assert out == ["연락처 <KR_PHONE_1> 입니다", "x<KR_PHONE_1>y", "다시 <KR_PHONE_1><KR_PHONE_1>"]
    assert vault.value("<KR_PHONE_1>") == "010-1234-5678"
