"""Deterministic test payloads shared by the Python peers.

The JavaScript peers build equivalent payloads in payloads.js.  Peers only
ever compare an echo with what they sent themselves, so the two languages
do not need byte-identical content; they need the same *kinds* of content.
"""

import random

MIB = 1024 * 1024

SMALL_TEXT = "hello"
UTF8_TEXT = "héllo wörld €𝄞"
BINARY_ALL_BYTES = bytes(range(256))

# Characters of 1, 2, 3 and 4 UTF-8 bytes: a peer that fragments large
# messages (npm `websocket` does, every 16 KiB) splits some of them across
# frames, which the receiving side must reassemble before validating.
_TEXT_ALPHABET = ["a", "b", " ", "z", "é", "ß", "€", "ह", "𝄞", "😀"]


def random_binary(size: int, seed: int = 1) -> bytes:
    """`size` pseudo-random (incompressible) bytes."""
    return random.Random(seed).randbytes(size)


def random_text(size: int, seed: int = 2) -> str:
    """A str whose UTF-8 encoding is exactly `size` bytes, mixing 1-4 byte chars."""
    rng = random.Random(seed)
    parts = []
    n = 0
    while n < size - 4:
        # Chunks of at most (size - n) // 4 chars can never overshoot.
        chunk = "".join(rng.choices(_TEXT_ALPHABET, k=max(1, (size - n - 4) // 4)))
        parts.append(chunk)
        n += len(chunk.encode("utf-8"))
    parts.append("x" * (size - n))
    text = "".join(parts)
    assert len(text.encode("utf-8")) == size
    return text


def full_sequence(big: bool = False):
    """(name, payload) pairs; str payloads go as text, bytes as binary."""
    seq = [
        ("small text", SMALL_TEXT),
        ("utf-8 text", UTF8_TEXT),
        ("binary 0..255", BINARY_ALL_BYTES),
        ("empty text", ""),
        ("empty binary", b""),
        ("1 MiB binary", random_binary(MIB)),
        ("1 MiB text", random_text(MIB)),
    ]
    if big:
        seq.append(("16 MiB binary", random_binary(16 * MIB, seed=3)))
    return seq


PING_PAYLOAD = b"wskit-ping"
