import t from 'tap'
import { createEventStreams, type StreamSink } from '../../src/audit/event-stream.service.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'

// A wake-up reads once per partnership for all the streams of this instance that follow it; a stream whose
// client falls behind (its buffer full) is passed by and catches up by itself once it drained. Driven here
// through the streams' own interface with sinks whose buffers the test controls: every stream must still get
// every event once, in order, and the others must not wait for the slow one.
const ctx = await buildTestApp(t, { env: { STREAM_POLL_MS: '60000' } })
const kit = agreementKit(ctx)
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A sink that records what it was sent; while `full`, each write says the buffer is full. */
interface TestSink {
  sent: string[]
  full: boolean
  ended: boolean
  ids(): number[]
  release(): void
  sink: StreamSink
}
function sink(): TestSink {
  let drain: (() => void) | null = null
  let closed: (() => void) | null = null
  const s: TestSink = {
    sent: [],
    full: false,
    ended: false,
    ids: () => s.sent.flatMap((m) => /^id: (\d+)$/m.exec(m)?.[1] ?? []).map(Number),
    release() {
      s.full = false
      drain?.()
      drain = null
    },
    sink: {
      write(chunk) {
        s.sent.push(chunk)
        return !s.full
      },
      drained: () =>
        new Promise<void>((resolve) => {
          drain = resolve
        }),
      end() {
        s.ended = true
        closed?.()
      },
      onClose(fn) {
        closed = fn
      }
    }
  }
  return s
}

async function rename(pid: string, token: string, name: string): Promise<void> {
  const res = await ctx.request({
    method: 'PATCH',
    url: `/v1/partnerships/${pid}`,
    token,
    headers: { 'if-match': '*' },
    body: { name }
  })
  if (res.statusCode !== 200) throw new Error(`rename: ${res.statusCode}`)
}

t.test('one slow client does not hold up the others, and catches up by itself once it drained', async (t) => {
  const streams = createEventStreams(ctx.deps)
  t.teardown(() => streams.close())
  const { alice, bob, pid } = await kit.couple()
  const head = await kit.headSeq(alice, pid)
  const [fast, slow, other] = [sink(), sink(), sink()]
  for (const [who, s] of [
    [alice, fast],
    [bob, slow],
    [alice, other]
  ] as const)
    (await streams.admit({ partnershipId: pid, userId: who.id, afterSeq: head })).start(s.sink)
  await sleep(100) // each has replayed nothing: it starts at the head

  slow.full = true
  for (let k = 1; k <= 3; k++) await rename(pid, alice.token, `Name ${k}`)
  const expected = Array.from({ length: 3 }, (_, i) => head + 1 + i)
  for (let i = 0; i < 50 && (fast.ids().length < 3 || other.ids().length < 3); i++) await sleep(20)
  t.same(fast.ids(), expected, 'the fast client got each event, in order')
  t.same(other.ids(), expected, 'and so did another stream of the same partnership')
  t.same(slow.ids(), [head + 1], 'the slow one was sent the first, then passed by while its buffer was full')

  slow.release()
  for (let i = 0; i < 50 && slow.ids().length < 3; i++) await sleep(20)
  t.same(slow.ids(), expected, 'once drained it caught up: each event once, in order')

  await rename(pid, alice.token, 'Name 4')
  for (let i = 0; i < 50 && slow.ids().length < 4; i++) await sleep(20)
  t.same(slow.ids(), [...expected, head + 4], 'and follows with the others again')
  t.same(fast.ids(), [...expected, head + 4])
})

t.test('a wake-up ends the streams of a member who left, and only theirs', async (t) => {
  const streams = createEventStreams(ctx.deps)
  t.teardown(() => streams.close())
  const carol = await kit.person('Carol')
  const { alice, bob, pid } = await kit.couple()
  await kit.join(carol, pid, 'partner', alice)
  const head = await kit.headSeq(alice, pid)
  const [a, c] = [sink(), sink()]
  ;(await streams.admit({ partnershipId: pid, userId: alice.id, afterSeq: head })).start(a.sink)
  ;(await streams.admit({ partnershipId: pid, userId: carol.id, afterSeq: head })).start(c.sink)
  await sleep(50)
  await kit.leave(carol, pid)
  for (let i = 0; i < 50 && !c.ended; i++) await sleep(20)
  t.ok(c.ended, 'the stream of the member who left ended')
  t.notOk(a.ended, 'the others go on')
  await rename(pid, bob.token, 'Still here')
  for (let i = 0; i < 50 && a.ids().length < 2; i++) await sleep(20)
  t.same(a.ids(), [head + 1, head + 2], 'and get what follows')
})
