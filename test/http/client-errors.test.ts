import type { AddressInfo } from 'node:net'
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { clientErrorHandler } from '../../src/http/client-error.ts'
import { buildTestApp } from '../helpers/app.ts'

// Class: answers that skip the problem format. What Node's HTTP parser refuses never reaches a route or a hook;
// Fastify's own handler answered it with plain JSON ({"error": …, "statusCode": 431}).
const ctx = await buildTestApp(t)
await ctx.app.listen({ port: 0, host: '127.0.0.1' })
const port = (ctx.app.server.address() as AddressInfo).port

/** Sends raw bytes and reads the whole answer until the server closes the connection. */
function raw(bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk) => {
      answer += chunk
    })
    socket.on('error', reject)
    socket.on('close', () => resolve(answer))
    socket.write(bytes)
  })
}

function parsed(answer: string): { status: number; headers: string; body: Record<string, unknown> } {
  const [head, body] = answer.split('\r\n\r\n')
  return { status: Number(head!.split(' ')[1]), headers: head!.toLowerCase(), body: JSON.parse(body!) }
}

t.test('headers over 16 KiB: a 431 problem, and the connection closed', async (t) => {
  const answer = await raw(`GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'a'.repeat(20_000)}\r\n\r\n`)
  const { status, headers, body } = parsed(answer)
  t.equal(status, 431)
  t.match(headers, /content-type: application\/problem\+json/)
  t.match(headers, /connection: close/)
  t.same(body, {
    type: `${ctx.deps.config.publicUrl}/problems/headers-too-large`,
    title: 'The request headers are too large',
    status: 431,
    detail: 'the request line and headers are larger than 16 KiB',
    code: 'headers-too-large'
  })
})

t.test('what is not HTTP/1.1: a 400 problem', async (t) => {
  for (const [what, bytes] of [
    ['an unknown method', 'FOO / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a control byte in a header', 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\u0001b\r\n\r\n'],
    [
      'both Content-Length and chunked',
      'POST /v1/partnerships HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
    ]
  ] as const) {
    const { status, headers, body } = parsed(await raw(bytes))
    t.equal(status, 400, what)
    t.match(headers, /content-type: application\/problem\+json/, what)
    t.match(body, { status: 400, code: 'bad-request', detail: 'the request is not valid HTTP/1.1' }, what)
  }
  // The server is still there for the next client.
  t.match(await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /)
})

t.test(
  'a request too slow to arrive: a 408 problem (Node checks every 30 s: the handler, given the error)',
  async (t) => {
    const written: string[] = []
    let destroyed = false
    const socket = {
      destroyed: false,
      writable: true,
      write: (s: string) => written.push(s),
      destroy: () => {
        destroyed = true
      }
    } as unknown as Socket
    clientErrorHandler('http://h')(Object.assign(new Error('timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket)
    const { status, body } = parsed(written.join(''))
    t.equal(status, 408)
    t.match(body, { code: 'request-timeout', status: 408, type: 'http://h/problems/request-timeout' })
    t.ok(destroyed, 'and the connection closed')
    // An answer already under way on the connection: nothing is written into it, the connection is closed.
    let closed = false
    const busy = {
      destroyed: false,
      writable: true,
      _httpMessage: { headersSent: true },
      write: () => t.fail('nothing written into a started answer'),
      destroy: () => {
        closed = true
      }
    }
    clientErrorHandler('http://h')(
      Object.assign(new Error('bad'), { code: 'HPE_INVALID_METHOD' }),
      busy as unknown as Socket
    )
    t.ok(closed, 'a started answer: the connection closed, nothing written')
    const reset = { destroyed: false, writable: true, write: () => t.fail('nothing written'), destroy: () => {} }
    clientErrorHandler('http://h')(
      Object.assign(new Error('reset'), { code: 'ECONNRESET' }),
      reset as unknown as Socket
    )
  }
)
