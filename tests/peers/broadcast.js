'use strict';
// The messages of the broadcast check (tests/interop/run.py, part H), as broadcast.py makes them.
//
// Message i (0-based) is text when i is even, binary when odd, of (i * 997) % 20000 + 1 bytes:
// text "i:" followed by 'x' up to the length, binary bytes (i + j) & 0xff.

const COUNT = 100;

function message(i) {
  const n = (i * 997) % 20000 + 1;
  if (i % 2 === 0) {
    const head = `${i}:`;
    return (head + 'x'.repeat(n)).slice(0, Math.max(n, head.length));
  }
  const b = Buffer.alloc(n);
  for (let j = 0; j < n; j++) b[j] = (i + j) & 0xff;
  return b;
}

// Compares message `i` received as (data, isBinary); returns null or what differs.
function mismatch(i, data, isBinary) {
  const want = message(i);
  const wantBinary = typeof want !== 'string';
  if (isBinary !== wantBinary) return `message ${i}: expected ${wantBinary ? 'binary' : 'text'}`;
  const got = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const expected = wantBinary ? want : Buffer.from(want, 'utf8');
  if (!got.equals(expected)) return `message ${i}: ${got.length} bytes differ from the ${expected.length} expected`;
  return null;
}

module.exports = { COUNT, message, mismatch };
