'use strict';
// Deterministic test payloads shared by the JavaScript peers (see payloads.py).

const MIB = 1024 * 1024;

const SMALL_TEXT = 'hello';
const UTF8_TEXT = 'héllo wörld €𝄞';
const BINARY_ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const TEXT_ALPHABET = ['a', 'b', ' ', 'z', 'é', 'ß', '€', 'ह', '𝄞', '😀'];

function xorshift32(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

function randomBinary(size, seed = 1) {
  const next = xorshift32(0x9e3779b9 ^ seed);
  const buf = Buffer.allocUnsafe(size);
  let i = 0;
  for (; i + 4 <= size; i += 4) buf.writeUInt32LE(next(), i);
  for (; i < size; i++) buf[i] = next() & 0xff;
  return buf;
}

function randomText(size, seed = 2) {
  const next = xorshift32(0x85ebca6b ^ seed);
  const parts = [];
  let n = 0;
  while (n < size - 4) {
    const ch = TEXT_ALPHABET[next() % TEXT_ALPHABET.length];
    parts.push(ch);
    n += Buffer.byteLength(ch, 'utf8');
  }
  parts.push('x'.repeat(size - n));
  const text = parts.join('');
  if (Buffer.byteLength(text, 'utf8') !== size) throw new Error('randomText size');
  return text;
}

// [name, payload]: strings go as text messages, Buffers as binary messages.
function fullSequence(big) {
  const seq = [
    ['small text', SMALL_TEXT],
    ['utf-8 text', UTF8_TEXT],
    ['binary 0..255', BINARY_ALL_BYTES],
    ['empty text', ''],
    ['empty binary', Buffer.alloc(0)],
    ['1 MiB binary', randomBinary(MIB)],
    ['1 MiB text', randomText(MIB)],
  ];
  if (big) seq.push(['16 MiB binary', randomBinary(16 * MIB, 3)]);
  return seq;
}

const PING_PAYLOAD = Buffer.from('wskit-ping');

// Shared command line: URL [--deflate] [--close CODE] [--expect-close CODE] [--quick] [--big]
function parseClientArgs(argv) {
  const opts = { url: null, deflate: false, close: 4000, expectClose: null, quick: false, big: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--deflate') opts.deflate = true;
    else if (a === '--quick') opts.quick = true;
    else if (a === '--big') opts.big = true;
    else if (a === '--close') opts.close = parseInt(argv[++i], 10);
    else if (a === '--expect-close') opts.expectClose = parseInt(argv[++i], 10);
    else if (!a.startsWith('--') && opts.url === null) opts.url = a;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!opts.url) throw new Error('usage: URL [--deflate] [--close CODE] [--expect-close CODE] [--quick] [--big]');
  if (opts.expectClose === null) opts.expectClose = opts.close;
  return opts;
}

function describe(payload) {
  if (typeof payload === 'string') return `text(${Buffer.byteLength(payload, 'utf8')} bytes)`;
  return `binary(${payload.length} bytes)`;
}

// Compare an echo with what was sent; returns null when equal, else a reason.
function compareEcho(sent, gotData, gotIsBinary) {
  const sentIsBinary = typeof sent !== 'string';
  if (sentIsBinary !== gotIsBinary) {
    return `sent ${sentIsBinary ? 'binary' : 'text'}, echo came back as ${gotIsBinary ? 'binary' : 'text'}`;
  }
  const sentBuf = sentIsBinary ? sent : Buffer.from(sent, 'utf8');
  if (!sentBuf.equals(gotData)) {
    let i = 0;
    while (i < sentBuf.length && i < gotData.length && sentBuf[i] === gotData[i]) i++;
    return `echo differs: sent ${sentBuf.length} bytes, got ${gotData.length}, first difference at byte ${i}`;
  }
  return null;
}

const MAX_SIZE = 64 * MIB;

module.exports = {
  MIB, MAX_SIZE, SMALL_TEXT, UTF8_TEXT, BINARY_ALL_BYTES, PING_PAYLOAD,
  randomBinary, randomText, fullSequence, parseClientArgs, describe, compareEcho,
};
