// Counts the statements a server sends to PostgreSQL: a loopback TCP proxy in front of the database that reads
// the frontend protocol and counts Execute ('E', one per statement of the extended protocol postgres.js uses)
// and Query ('Q', a simple-protocol query) messages. Nothing is sampled or inferred: every statement crosses it.
import { createServer, type Socket, connect as tcp } from 'node:net'

/** Untyped messages come first: SSLRequest and GSSENCRequest (answered with one byte), then StartupMessage. */
const SSL_REQUEST = 80877103
const GSSENC_REQUEST = 80877104

export interface StatementCounter {
  /** A database URL that goes through the proxy. */
  url: string
  /** Execute + Query messages seen so far, on every connection. */
  count(): number
  close(): Promise<void>
}

export async function statementCounter(databaseUrl: string): Promise<StatementCounter> {
  const target = new URL(databaseUrl)
  let statements = 0
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = tcp(Number(target.port || 5432), target.hostname)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {}).on('close', () => {
        sockets.delete(s)
        client.destroy()
        upstream.destroy()
      })
    }
    client.pipe(upstream)
    upstream.pipe(client)
    // The client's bytes, read as a stream of messages that may span chunks: each header is read, its body skipped.
    let started = false
    let skip = 0
    let header = Buffer.alloc(0)
    client.on('data', (chunk: Buffer) => {
      const buf = header.length === 0 ? chunk : Buffer.concat([header, chunk])
      header = Buffer.alloc(0)
      let at = 0
      while (at < buf.length) {
        if (skip > 0) {
          const n = Math.min(skip, buf.length - at)
          skip -= n
          at += n
          continue
        }
        if (buf.length - at < (started ? 5 : 8)) {
          header = Buffer.from(buf.subarray(at))
          break
        }
        if (started) {
          const type = buf[at]!
          if (type === 0x45 /* E */ || type === 0x51 /* Q */) statements++
          skip = 1 + buf.readInt32BE(at + 1)
        } else {
          const code = buf.readInt32BE(at + 4)
          if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) started = true
          skip = buf.readInt32BE(at)
        }
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = new URL(databaseUrl)
  url.hostname = '127.0.0.1'
  url.port = String((server.address() as { port: number }).port)
  return {
    url: url.toString(),
    count: () => statements,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
}
