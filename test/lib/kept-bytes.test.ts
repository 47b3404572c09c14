import t from 'tap'
import { keptCopy, keptUtf8 } from '../../src/lib/kept-bytes.ts'

t.test('keptUtf8: the UTF-8 bytes of a text, in an ArrayBuffer of exactly their size', async (t) => {
  for (const text of ['', 'a', 'é✓ 🙂', 'x'.repeat(28_000), 'y'.repeat(40_000)]) {
    const kept = keptUtf8(text)
    t.same(kept, Buffer.from(text, 'utf8'), `${text.length} characters: the same bytes`)
    t.equal(kept.buffer.byteLength, kept.length, 'nothing else in its memory')
  }
  if (Buffer.poolSize > 2 * 28_000)
    t.ok(Buffer.from('x'.repeat(28_000)).buffer.byteLength > 28_000, "Buffer.from would have cut it from Node's slab")
})

t.test('keptCopy: a copy of bytes cut from a slab, in memory of its own', async (t) => {
  const pooled = Buffer.from('AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=', 'base64')
  t.ok(pooled.buffer.byteLength > pooled.length, 'the source shares a slab (Node pools small Buffers in any version)')
  const kept = keptCopy(pooled)
  t.same(kept, pooled, 'the same bytes')
  t.equal(kept.buffer.byteLength, 32, 'its own 32 bytes')
  pooled[0] = 255
  t.equal(kept[0], 0, 'a copy, not a view')
})
