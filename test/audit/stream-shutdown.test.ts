import t from 'tap'
import { freshPostgresUrl, onPostgres, postgresEnv } from '../helpers/app.ts'
import { bootServer, request } from '../helpers/process.ts'
import { openStream } from '../helpers/sse.ts'

// The real process, as `npm start` runs it: SIGTERM with event streams open. close-with-grace's app.close()
// ends every stream first, so the process exits 0 at once instead of waiting out SHUTDOWN_GRACE_MS (10 s) for
// connections that never end on their own. On PostgreSQL the listening connection closes with the pool.
const database: Record<string, string> = onPostgres ? postgresEnv(await freshPostgresUrl(t)) : {}
const server = await bootServer(t, { NODE_ENV: 'development', ...database })

t.test('SIGTERM ends open event streams and the process exits 0 promptly', async (t) => {
  await server.waitForLine(/listening/)
  const token: string = (
    await request(server.port, { method: 'POST', path: '/v1/dev/tokens', body: { sub: 'alice', name: 'Alice' } })
  ).json().accessToken
  const auth = { authorization: `Bearer ${token}` }
  const created = await request(server.port, {
    method: 'POST',
    path: '/v1/partnerships',
    headers: auth,
    body: { name: 'Shutdown', timezone: 'Europe/Paris' }
  })
  t.equal(created.status, 201)
  const url = `http://127.0.0.1:${server.port}/v1/partnerships/${created.json().id}/events/stream`
  const streams = [await openStream(url, auth), await openStream(url, auth)]
  for (const s of streams) await s.waitFor(1)
  t.pass('two streams open and following')

  const signalled = performance.now()
  server.child.kill('SIGTERM')
  const exit = await server.exit()
  const took = performance.now() - signalled
  t.same(exit, { code: 0, signal: null }, 'exit code 0')
  t.ok(took < 5000, `exited in ${Math.round(took)} ms, not after the grace period`)
  for (const s of streams) t.ok((await s.ended).at - signalled < 5000, 'the stream was ended')
})
