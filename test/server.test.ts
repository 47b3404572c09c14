import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { bootServer, EXIT_TIMEOUT_MS, request, startServer, tryConnect } from './helpers/process.ts'

/**
 * The real process, as `npm start` runs it: configuration from the
 * environment, PGlite in memory, JSON logs on stdout, and a graceful shutdown on
 * SIGTERM. It never inherits the test's database settings (always PGlite).
 */

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// The servers boot in parallel (PGlite takes a few seconds each); each test then waits for its own.
const dev = await bootServer(t, { NODE_ENV: 'development' })
const prod = await bootServer(t, { NODE_ENV: 'production' })

t.test('in development, the process serves the API and shuts down gracefully', async (t) => {
  const listening = await dev.waitForLine(/listening/)
  t.match(JSON.parse(listening), { level: 30 }, 'it logs, as JSON, that it is listening')

  const health = await request(dev.port, { path: '/healthz' })
  t.equal(health.status, 200, 'GET /healthz is 200')
  t.same(health.json(), { status: 'ok' })

  const minted = await request(dev.port, {
    method: 'POST',
    path: '/v1/dev/tokens',
    body: { sub: 'alice', name: 'Alice' }
  })
  t.equal(minted.status, 201, 'POST /v1/dev/tokens is 201')
  const token: string = minted.json().accessToken
  t.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'with a JWT access token')

  const me = await request(dev.port, {
    path: '/v1/me',
    headers: { authorization: `Bearer ${token}`, 'x-request-id': 'server-test-me' }
  })
  t.equal(me.status, 200, 'GET /v1/me with it is 200')
  t.equal(me.json().displayName, 'Alice')
  t.equal(me.headers['x-request-id'], 'server-test-me')

  t.test(
    'a request in flight when SIGTERM arrives still completes, new connections are refused, and the process exits 0',
    async (t) => {
      // Headers now (authentication and provisioning run), body after the signal: the request is in flight.
      const body = JSON.stringify({ displayName: 'Alice Draining' })
      const split = 10
      const socket = net.connect(dev.port, '127.0.0.1')
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve)
        socket.once('error', reject)
      })
      let raw = ''
      socket.setEncoding('utf8').on('data', (c: string) => {
        raw += c
      })
      const responded = new Promise<void>((resolve) => socket.once('close', () => resolve()))
      socket.write(
        [
          'PATCH /v1/me HTTP/1.1',
          `host: 127.0.0.1:${dev.port}`,
          `authorization: Bearer ${token}`,
          'content-type: application/json',
          `content-length: ${Buffer.byteLength(body)}`,
          'if-match: *',
          'x-request-id: server-test-in-flight',
          'connection: close',
          '',
          ''
        ].join('\r\n') + body.slice(0, split)
      )
      await sleep(200) // let the server read the headers and run the onRequest hooks

      const signalledAt = performance.now()
      t.ok(dev.child.kill('SIGTERM'), 'SIGTERM sent')
      const shutting = await dev.waitForLine(/shutting down/, 5000)
      t.match(JSON.parse(shutting), { signal: 'SIGTERM' }, 'it logs that it is shutting down, and why')

      let refused = ''
      for (let i = 0; i < 40 && refused !== 'ECONNREFUSED'; i++) {
        refused = await tryConnect(dev.port)
        if (refused !== 'ECONNREFUSED') await sleep(50)
      }
      t.equal(refused, 'ECONNREFUSED', 'a new connection is refused while the in-flight request is still open')
      t.equal(raw, '', 'the in-flight request has not been answered yet')
      t.equal(dev.child.exitCode, null, 'the process waits for it')

      socket.end(body.slice(split))
      await responded
      const [head = '', payload = ''] = raw.split('\r\n\r\n')
      t.match(head, /^HTTP\/1\.1 200 /, `the in-flight request completes with 200 (${head.split('\r\n')[0]})`)
      t.match(
        JSON.parse(payload || '{}'),
        { displayName: 'Alice Draining' },
        'and its change, which needed the database, was made'
      )

      const { code, signal } = await dev.exit()
      t.equal(code, 0, 'exit code 0')
      t.equal(signal, null)
      t.ok(
        performance.now() - signalledAt < EXIT_TIMEOUT_MS,
        `exited ${Math.round(performance.now() - signalledAt)} ms after SIGTERM`
      )
      t.equal(await tryConnect(dev.port), 'ECONNREFUSED', 'after exit, connections are refused')
    }
  )

  t.test('every stdout line is JSON, request lines carry a requestId, and no line carries a token', async (t) => {
    t.ok(dev.lines.length > 0)
    const parsed: Array<Record<string, any>> = []
    for (const line of dev.lines) {
      try {
        parsed.push(JSON.parse(line))
      } catch {
        t.fail(`not JSON: ${line.slice(0, 200)}`)
      }
    }
    t.equal(parsed.length, dev.lines.length, 'all lines parse as JSON')
    const requestLines = parsed.filter((l) => l.req !== undefined || l.res !== undefined)
    t.ok(requestLines.length >= 6, `request lines are logged (${requestLines.length})`)
    t.ok(
      requestLines.every((l) => typeof l.requestId === 'string' && l.requestId.length > 0),
      'each request line has a requestId'
    )
    t.ok(
      parsed.some((l) => l.requestId === 'server-test-me' && l.res?.statusCode === 200),
      "the caller's x-request-id is the requestId in the log"
    )
    t.ok(
      parsed.some((l) => l.requestId === 'server-test-in-flight' && l.res?.statusCode === 200),
      'the in-flight request is logged as completed'
    )
    t.notOk(
      parsed.some((l) => l.req?.url === '/healthz'),
      '/healthz is not logged'
    )
    const all = dev.lines.join('\n')
    t.notOk(all.includes(token), 'the token never appears')
    t.notOk(all.includes(token.split('.')[2]!), 'nor its signature')
    t.notMatch(all, /authorization/i, 'nor the word authorization')
    t.notMatch(all, /bearer/i, 'nor a bearer scheme')
  })
})

t.test('in production, dev tokens are off: POST /v1/dev/tokens is a 404 problem', async (t) => {
  await prod.waitForLine(/listening/)
  const res = await request(prod.port, { method: 'POST', path: '/v1/dev/tokens', body: { sub: 'mallory' } })
  t.equal(res.status, 404)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.match(res.json(), { status: 404, code: 'not-found' })
  t.notOk('accessToken' in res.json())
  t.equal((await request(prod.port, { path: '/healthz' })).status, 200, 'the rest is served')
  prod.child.kill('SIGTERM')
  t.equal((await prod.exit()).code, 0, 'and SIGTERM stops it with exit code 0')
})

t.test('a bad configuration stops the process with exit code 1 and a message naming the variable', async (t) => {
  const cases: Array<[string, Record<string, string>]> = [
    ['PORT', { PORT: 'abc' }],
    ['RATE_LIMIT_PER_MINUTE', { RATE_LIMIT_PER_MINUTE: '-1' }],
    ['NODE_ENV', { NODE_ENV: 'staging' }],
    ['SECRET_KEY', { SECRET_KEY: 'not-32-bytes' }]
  ]
  const runs = cases.map(([name, env]) => {
    const proc = startServer(t, { HOST: '127.0.0.1', DATA_DIR: ':memory:', PORT: '0', ...env })
    return { name, proc }
  })
  for (const { name, proc } of runs) {
    const { code } = await proc.exit()
    t.equal(code, 1, `${name}: exit code 1`)
    t.match(proc.stderr(), new RegExp(`^accord: invalid configuration:\\n\\s+${name}: `), `${name}: stderr names it`)
    t.notMatch(proc.stderr(), /^\s+at /m, `${name}: no stack trace`)
    t.notMatch(proc.stderr(), /ConfigError|ZodError/, `${name}: no error class names`)
    t.equal(proc.lines.length, 0, `${name}: nothing on stdout, it never started`)
  }
})

t.test('a SECRET_KEY that does not open the stored secrets stops the start with exit code 1 and says so', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'accord-server-kek-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const first = await bootServer(t, { DATA_DIR: dataDir, SECRET_KEY: randomBytes(32).toString('base64') })
  await first.waitForLine(/Accord is listening/)
  first.child.kill('SIGTERM')
  t.equal((await first.exit()).code, 0)
  const second = startServer(t, {
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    SECRET_KEY: randomBytes(32).toString('base64')
  })
  t.equal((await second.exit()).code, 1, 'exit code 1')
  t.match(second.stderr(), /^accord: the secret key \(SECRET_KEY\) does not open the service key /, 'a clear message')
  t.notMatch(second.stderr(), /^\s+at /m, 'no stack trace')
  t.equal(second.lines.length, 0, 'it never listened')
})
