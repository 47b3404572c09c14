import type { Socket } from 'node:net'
import type { ErrorCode } from '../errors.ts'
import { statusOf, titleOf, wireCode } from './problem-catalog.ts'

// The reason phrases of the statuses written here (not node:http's STATUS_CODES: an ES import of node:http loads
// Node's bundled undici, which the server never uses: test/architecture/startup-modules.test.ts).
const REASONS: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large'
}

/** What Node's HTTP parser refused, in our codes: too slow to arrive, headers over Node's 16 KiB, or not HTTP. */
function codeOf(err: NodeJS.ErrnoException): { code: ErrorCode; detail: string } {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return { code: 'REQUEST_TIMEOUT', detail: 'the request did not arrive in time' }
  if (err.code === 'HPE_HEADER_OVERFLOW')
    return { code: 'HEADERS_TOO_LARGE', detail: 'the request line and headers are larger than 16 KiB' }
  return { code: 'BAD_REQUEST', detail: 'the request is not valid HTTP/1.1' }
}

/**
 * Fastify's clientErrorHandler: a request Node's parser refused before any route saw it still gets an RFC 9457
 * problem (Fastify's own answers plain JSON), then the connection is closed, as Node's default does: what else the
 * client sent on it cannot be trusted to be framed. No request id, no instance: there was no request.
 */
export function clientErrorHandler(publicUrl: string): (err: NodeJS.ErrnoException, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    // As Node's own default: nothing is written into an answer already under way on this connection (a bad
    // request pipelined behind a live stream, say); the connection is closed all the same.
    const answering = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
    if (socket.writable && !answering?.headersSent) {
      const { code, detail } = codeOf(err)
      const status = statusOf(code)
      const body = JSON.stringify({
        type: `${publicUrl}/problems/${wireCode(code)}`,
        title: titleOf(code),
        status,
        detail,
        code: wireCode(code)
      })
      socket.write(
        `HTTP/1.1 ${status} ${REASONS[status]}\r\nContent-Type: application/problem+json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n` +
          `Connection: close\r\n\r\n${body}`
      )
    }
    socket.destroy(err)
  }
}
