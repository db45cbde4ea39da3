"""The messages of the broadcast check (tests/interop/run.py, part H), as broadcast.js makes them.

Message i (0-based) is text when i is even, binary when odd, of (i * 997) % 20000 + 1 bytes:
text "i:" followed by 'x' up to the length, binary bytes (i + j) & 0xff.
"""

COUNT = 100


def message(i: int) -> str | bytes:
    n = (i * 997) % 20000 + 1
    if i % 2 == 0:
        head = f"{i}:"
        return (head + "x" * n)[: max(n, len(head))]
    return bytes((i + j) & 0xFF for j in range(n))
