import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { appendEvent } from '../../src/audit/append.service.ts'
import { agreementKit, type Event, type Person } from '../helpers/agreements.ts'
import { buildTestApp, onPostgres, type TestApp, TestClock } from '../helpers/app.ts'
import { isProblem } from '../helpers/problems.ts'
import { openStream, type SseClient } from '../helpers/sse.ts'

// The live log over real connections: GET …/events/stream on a listening server, read as a client reads it.
// A slow poll (a minute) by default, so what arrives here arrived through the wake-ups; the poll has its own test.
const STREAM_ENV = { STREAM_POLL_MS: '60000' }
const ctx = await buildTestApp(t, { env: STREAM_ENV })
const kit = agreementKit(ctx)
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The origin of a listening app. */
async function listen(app: TestApp['app']): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}
const origin = await listen(ctx.app)

/** Another instance of Accord on the same database (on PostgreSQL its own pool and listening connection). */
async function anotherInstance(t: Test, env: Record<string, string> = {}): Promise<{ app: TestApp; origin: string }> {
  const database = ctx.deps.config.database
  const app = await buildTestApp(t, {
    env: { ...STREAM_ENV, ...env },
    ...(database.kind === 'postgres' ? { databaseUrl: database.url } : { database: ctx.database })
  })
  return { app, origin: await listen(app.app) }
}

const opened: SseClient[] = []
t.teardown(() => {
  for (const s of opened) s.close()
})

async function stream(
  who: Person | string,
  pid: string,
  options: { query?: string; lastEventId?: string; at?: string } = {}
): Promise<SseClient> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${typeof who === 'string' ? who : who.token}`
  }
  if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId
  const s = await openStream(
    `${options.at ?? origin}/v1/partnerships/${pid}/events/stream${options.query ?? ''}`,
    headers
  )
  opened.push(s)
  return s
}

async function events(who: Person, pid: string, via: TestApp = ctx): Promise<{ items: Event[]; body: string }> {
  const res = await via.request({ method: 'GET', url: `/v1/partnerships/${pid}/events?limit=100`, token: who.token })
  return { items: res.json().items, body: res.body }
}

async function rename(who: Person, pid: string, name: string, via: TestApp = ctx): Promise<void> {
  const res = await via.request({
    method: 'PATCH',
    url: `/v1/partnerships/${pid}`,
    token: who.token,
    headers: { 'if-match': '*' },
    body: { name }
  })
  if (res.statusCode !== 200) throw new Error(`rename: ${res.statusCode} ${res.body}`)
}

/** Each message is the event GET …/events shows, byte for byte, with its seq as id and its type as event. */
function sameAsTheLog(t: Test, got: SseClient['messages'], log: { items: Event[]; body: string }, from = 1): void {
  const expected = log.items.filter((e) => e.seq >= from)
  t.same(
    got.map((m) => m.id),
    expected.map((e) => String(e.seq)),
    'each event once, in seq order, with its seq as id'
  )
  t.same(
    got.map((m) => m.event),
    expected.map((e) => e.type),
    'with its type as event'
  )
  t.same(
    got.map((m) => JSON.parse(m.data)),
    expected,
    'with the event as GET …/events shows it as data'
  )
  t.ok(
    got.every((m) => log.body.includes(m.data)),
    'the data is the very text of the event in GET …/events'
  )
}

t.test('GET …/events/stream', async (t) => {
  t.test('sends the log, then each event as it commits, once and in order', async (t) => {
    const { alice, bob, pid } = await kit.couple()
    const s = await stream(alice, pid)
    t.equal(s.status, 200)
    t.match(s.headers['content-type'], /^text\/event-stream/)
    t.equal(s.headers['cache-control'], 'no-store')
    await s.waitFor(4)
    t.same(s.retries, ['1000'], 'it opens with the reconnection delay')
    for (const name of ['One', 'Two', 'Three']) await rename(alice, pid, name)
    await rename(bob, pid, 'Four')
    await s.waitFor(8)
    await sleep(300)
    sameAsTheLog(t, s.messages, await events(alice, pid))
    t.equal(s.messages.length, 8, 'and nothing else')
  })

  t.test('writes in quick succession arrive all, in order, each once', async (t) => {
    const { alice, pid } = await kit.couple()
    const s = await stream(alice, pid)
    await Promise.all(Array.from({ length: 10 }, (_, i) => rename(alice, pid, `Name ${i}`)))
    await s.waitFor(14)
    await sleep(300)
    sameAsTheLog(t, s.messages, await events(alice, pid))
  })

  t.test('resumes after Last-Event-ID, or ?after=, with what was missed and then what comes', async (t) => {
    const { alice, bob, pid } = await kit.couple()
    await rename(alice, pid, 'Five')
    const byHeader = await stream(bob, pid, { lastEventId: '2' })
    const byQuery = await stream(alice, pid, { query: '?after=3' })
    const both = await stream(alice, pid, { query: '?after=0', lastEventId: '4' })
    await byHeader.waitFor(3)
    await byQuery.waitFor(2)
    await both.waitFor(1)
    await rename(bob, pid, 'Six')
    await byHeader.waitFor(4)
    await byQuery.waitFor(3)
    await both.waitFor(2)
    await sleep(200)
    const log = await events(alice, pid)
    sameAsTheLog(t, byHeader.messages, log, 3)
    sameAsTheLog(t, byQuery.messages, log, 4)
    t.same(
      both.messages.map((m) => m.id),
      ['5', '6'],
      'Last-Event-ID wins over ?after= (EventSource sends it when it reconnects to the same URL)'
    )
  })

  t.test('a stream at the head waits for the next event', async (t) => {
    const { alice, pid } = await kit.couple()
    const s = await stream(alice, pid, { lastEventId: '4' })
    await sleep(200)
    t.equal(s.messages.length, 0, 'nothing to send yet')
    await rename(alice, pid, 'Later')
    t.same(
      (await s.waitFor(1)).map((m) => m.id),
      ['5']
    )
  })

  t.test('resumes across an instance restart: stopped, written elsewhere, started again', async (t) => {
    const { alice, pid } = await kit.couple()
    const first = await anotherInstance(t)
    const s = await stream(alice, pid, { at: first.origin })
    await s.waitFor(4)
    const lastId = s.messages.at(-1)!.id!
    await first.app.app.close()
    await s.ended
    t.pass('the stream ended with its instance')
    const other = await anotherInstance(t)
    await rename(alice, pid, 'While away', other.app)
    await rename(alice, pid, 'Still away', other.app)
    const again = await anotherInstance(t)
    const resumed = await stream(alice, pid, { at: again.origin, lastEventId: lastId })
    await resumed.waitFor(2)
    await rename(alice, pid, 'Back', again.app)
    await resumed.waitFor(3)
    await sleep(200)
    sameAsTheLog(t, resumed.messages, await events(alice, pid), 5)
  })

  t.test(
    'an event committed on another instance reaches this one',
    {
      skip: onPostgres ? false : 'needs PostgreSQL: two instances share a database only there (PGlite is one process)'
    },
    async (t) => {
      const { alice, bob, pid } = await kit.couple()
      const b = await anotherInstance(t)
      const s = await stream(alice, pid)
      await s.waitFor(4)
      const started = performance.now()
      await rename(bob, pid, 'Written on B', b.app)
      await s.waitFor(5, 2000)
      t.ok(performance.now() - started < 2000, 'through NOTIFY, well before the (one-minute) poll')
      await rename(bob, pid, 'Written on A')
      await s.waitFor(6)
      sameAsTheLog(t, s.messages, await events(alice, pid))
    }
  )

  t.test('the poll delivers what no wake-up announced', async (t) => {
    const { alice, pid } = await kit.couple()
    const polled = await anotherInstance(t, { STREAM_POLL_MS: '100' })
    const s = await stream(alice, pid, { at: polled.origin })
    await s.waitFor(4)
    // A transaction opened outside the door wakes nobody: as if the writer had crashed between commit and NOTIFY.
    await ctx.deps.db.transaction((tx) =>
      appendEvent(tx, ctx.deps.now, {
        partnershipId: pid,
        type: 'partnership.updated',
        actorId: alice.id,
        subject: { type: 'partnership', id: pid },
        data: { name: 'Unannounced' }
      })
    )
    await s.waitFor(5, 2000)
    sameAsTheLog(t, s.messages, await events(alice, pid))
  })

  t.test('a member who leaves has their stream ended within a second; the others go on', async (t) => {
    const { alice, bob, pid } = await kit.couple()
    const observer = await kit.person('Olga')
    await kit.join(observer, pid, 'observer', alice, [alice, bob])
    const carol = await kit.person('Carol')
    await kit.join(carol, pid, 'partner', alice)
    const observing = await stream(observer, pid)
    const bobs = await stream(bob, pid)
    const carols = await stream(carol, pid)
    const alices = await stream(alice, pid)
    for (const s of [observing, bobs, carols, alices]) await s.until(() => s.retries.length > 0)

    let left = performance.now()
    await kit.leave(observer, pid)
    t.ok((await observing.ended).at - left < 1000, 'an observer who leaves: ended within a second')
    left = performance.now()
    await kit.leave(bob, pid)
    t.ok((await bobs.ended).at - left < 1000, 'a partner who leaves: ended within a second')
    left = performance.now()
    await kit.leave(carol, pid) // one partner left: the partnership dissolves
    t.ok((await carols.ended).at - left < 1000, 'the partner whose leaving dissolves it: ended within a second')
    await alices.until(() => alices.messages.some((m) => m.event === 'partnership.dissolved'))
    t.notOk(alices.isEnded(), 'who remains still follows the (dissolved) partnership')
    const bobLeft = alices.messages.find((m) => m.event === 'member.left' && JSON.parse(m.data).actorId === bob.id)
    t.ok(
      bobs.messages.every((m) => Number(m.id) < Number(bobLeft?.id)),
      'nothing from their leaving on reaches the one who left'
    )

    const again = await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/events/stream`, token: bob.token })
    isProblem(t, again, 404, 'not-found', 'a member who left, reconnecting')
  })

  t.test('a stream ends when the token it was opened with expires; a fresh token goes on', async (t) => {
    const { alice, bob, pid } = await kit.couple()
    // An instance whose clock is 1.5 s short of the expiry of the tokens minted now.
    const clock = new TestClock()
    clock.advance(ctx.deps.config.auth.tokenTtlSeconds * 1000 - 1500)
    const database = ctx.deps.config.database
    const late = await buildTestApp(t, {
      env: STREAM_ENV,
      clock,
      ...(database.kind === 'postgres' ? { databaseUrl: database.url } : { database: ctx.database })
    })
    const at = await listen(late.app)
    const expiring = await stream(alice, pid, { at })
    const fresh = await stream(await late.token(bob.sub), pid, { at })
    for (const s of [expiring, fresh]) await s.until(() => s.retries.length > 0)
    await expiring.ended
    t.ok(expiring.comments.includes('the token expired'), 'it says why before it ends')
    t.notOk(fresh.isEnded(), 'a stream opened with a fresh token is still open')
    await rename(alice, pid, 'After the expiry')
    await fresh.until(() => fresh.messages.some((m) => m.event === 'partnership.updated'))
    t.ok(true, 'and still delivers')
  })

  t.test('a member who leaves through another instance is cut off too', async (t) => {
    const { bob, pid } = await kit.couple()
    const b = await anotherInstance(t)
    const s = await stream(bob, pid)
    await s.waitFor(4)
    const left = performance.now()
    const res = await b.app.request({ method: 'DELETE', url: `/v1/partnerships/${pid}/members/me`, token: bob.token })
    t.equal(res.statusCode, 204, 'left through the other instance')
    t.ok((await s.ended).at - left < 1000, 'ended within a second')
  })

  t.test('answers a stranger 404, a token without audit:read 403, before any stream', async (t) => {
    const { alice, pid } = await kit.couple()
    const stranger = await kit.person('Mallory')
    isProblem(
      t,
      await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/events/stream`, token: stranger.token }),
      404,
      'not-found',
      'a stranger'
    )
    const unknown = '0190a4c5-0000-7000-8000-000000000000'
    isProblem(
      t,
      await ctx.request({ method: 'GET', url: `/v1/partnerships/${unknown}/events/stream`, token: alice.token }),
      404,
      'not-found',
      'an unknown partnership'
    )
    const wrongScope = await kit.scoped(alice, 'agreements:read')
    isProblem(
      t,
      await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/events/stream`, token: wrongScope }),
      403,
      'insufficient-scope',
      'a token without audit:read'
    )
    const s = await stream(await kit.scoped(alice, 'audit:read'), pid)
    t.equal(s.status, 200, 'a token with audit:read follows the log')
    await s.waitFor(4)
    s.close()
    isProblem(
      t,
      await ctx.request({
        method: 'GET',
        url: `/v1/partnerships/${pid}/events/stream`,
        token: alice.token,
        headers: { 'last-event-id': 'x' }
      }),
      400,
      'validation-failed',
      'a Last-Event-ID that is no seq'
    )
    const denied = await stream(stranger, pid)
    t.equal(denied.status, 404, 'over a real connection too')
    t.match(denied.headers['content-type'], /^application\/problem\+json/)
    await denied.text()
  })
})

t.test('limits, heartbeat and shutdown', async (t) => {
  const limited = await anotherInstance(t, {
    STREAM_MAX_PER_USER: '2',
    STREAM_MAX_PER_INSTANCE: '3',
    STREAM_HEARTBEAT_MS: '100'
  })
  const { alice, bob, pid } = await kit.couple()
  const at = { at: limited.origin }

  t.test('a comment line comes every STREAM_HEARTBEAT_MS', async (t) => {
    const s = await stream(alice, pid, at)
    await s.until(() => s.comments.filter((c) => c === 'heartbeat').length >= 3, 2000, 'three heartbeats')
    t.pass('three heartbeats within 2 s at 100 ms')
    s.close()
    await sleep(100)
  })

  /** accord_sse_subscribers as the instance's GET /metrics shows it (asked from loopback). */
  const subscribers = async (): Promise<number> => {
    const body = (await limited.app.request({ method: 'GET', url: '/metrics' })).body
    return Number(/^accord_sse_subscribers (\d+)$/m.exec(body)?.[1] ?? Number.NaN)
  }

  t.test('per user and per instance: 429 beyond, and room again once a stream closes', async (t) => {
    t.equal(await subscribers(), 0, 'no subscriber yet (GET /metrics)')
    const a1 = await stream(alice, pid, at)
    const a2 = await stream(alice, pid, at)
    t.equal(await subscribers(), 2, 'two streams open: two subscribers')
    const a3 = await stream(alice, pid, at)
    t.equal(a3.status, 429, 'a third stream of one user')
    t.match(JSON.parse(await a3.text()), { code: 'too-many-streams' })
    t.ok(a3.headers['retry-after'], 'with Retry-After')
    const b1 = await stream(bob, pid, at)
    t.equal(b1.status, 200)
    const b2 = await stream(bob, pid, at)
    t.equal(b2.status, 429, 'a fourth stream on an instance that takes three')
    await b2.text()
    a1.close()
    await sleep(200)
    const b3 = await stream(bob, pid, at)
    t.equal(b3.status, 200, 'room again once one closed')
    t.equal(await subscribers(), 3, 'three open, the refused ones not counted')
    for (const s of [a2, b1, b3]) s.close()
    await sleep(100)
    t.equal(await subscribers(), 0, 'none once all closed')
  })

  t.test('closing the app ends every open stream at once', async (t) => {
    const streams = [await stream(alice, pid, at), await stream(bob, pid, at)]
    for (const s of streams) await s.waitFor(4)
    const closing = performance.now()
    await limited.app.app.close()
    const closed = performance.now() - closing
    t.ok(closed < 2000, `app.close() did not wait for the streams (${Math.round(closed)} ms)`)
    for (const s of streams) t.ok((await s.ended).at - closing < 2000, 'the stream ended')
  })
})
