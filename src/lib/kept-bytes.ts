/**
 * Bytes to keep in memory for long, in memory of their own. Node (24) takes every Buffer under 32 KB made from a
 * string, or by Buffer.from and Buffer.concat, from a shared 64 KB slab, and a Buffer kept keeps its whole slab,
 * with whatever else was cut from it: a kept 28 KB page of events held 64 KB, a kept 32-byte key as much
 * (bench/README.md). These allocate exactly the bytes, outside the pool.
 */
export function keptUtf8(text: string): Buffer {
  const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(text))
  bytes.write(text)
  return bytes
}

export function keptCopy(bytes: Uint8Array): Buffer {
  const own = Buffer.allocUnsafeSlow(bytes.byteLength)
  own.set(bytes)
  return own
}
