import { performance } from 'node:perf_hooks'
import { sql } from 'drizzle-orm'
import t, { type Test } from 'tap'
import { hashEvent } from '../../src/audit/event.rules.ts'
import type { Tx } from '../../src/db/client.ts'
import { agreementKit, type Event, type Person } from '../helpers/agreements.ts'
import { buildTestApp, onPostgres } from '../helpers/app.ts'
import { isProblem, problemOf } from '../helpers/problems.ts'

// A pool large enough that the concurrent part really runs 20 transactions at once on PostgreSQL.
const ctx = await buildTestApp(t, { env: { DATABASE_POOL_MAX: '20' } })
const kit = agreementKit(ctx)

interface Page {
  items: Event[]
  nextCursor: string | null
}

const [alice, bob, counselor, stranger] = [
  await kit.person('Alice'),
  await kit.person('Bob'),
  await kit.person('Dr Lee'),
  await kit.person('Mallory')
]

const needsPostgres = onPostgres
  ? false
  : 'needs PostgreSQL: PGlite has a single connection, so transactions cannot overlap'

/** A partnership of Alice and Bob (4 events: partnership.created, member.joined, invitation.created, member.joined). */
async function partnershipOfTwo(): Promise<{ pid: string; base: string }> {
  const { pid, url } = await kit.partnership(alice, [bob])
  return { pid, base: url }
}

async function rename(base: string, who: Person, name: string): Promise<number> {
  return (
    await ctx.request({ method: 'PATCH', url: base, token: who.token, headers: { 'if-match': '*' }, body: { name } })
  ).statusCode
}

/** What a client does with the list alone: seq 1..n, each prevHash the previous hash, each hash recomputed. */
function checkChain(t: Test, events: Event[]): void {
  let prev: string | null = null
  let ok = true
  for (const [i, e] of events.entries()) {
    const { hash, ...rest } = e
    if (e.seq !== i + 1 || e.prevHash !== prev || hashEvent(rest) !== hash) {
      ok = false
      t.fail(`broken link at index ${i}`, {
        seq: e.seq,
        expectedSeq: i + 1,
        prevHash: e.prevHash,
        expectedPrevHash: prev,
        hash,
        recomputed: hashEvent(rest)
      })
      break
    }
    prev = hash
  }
  if (ok) t.pass(`the ${events.length} events chain from seq 1 to ${events.length}`)
}

/** The messages of an error and its causes (drizzle wraps the driver's error in "Failed query: …"). */
function messagesOf(err: unknown): string {
  const out: string[] = []
  for (let e = err; e instanceof Error && out.length < 5; e = e.cause) out.push(e.message)
  return out.join(' | ')
}

/** Runs `fn` with the table's user triggers disabled, in a transaction so no other session ever sees them off. */
async function behindTheTriggers(fn: (tx: Tx) => Promise<unknown>): Promise<void> {
  await ctx.database.db.transaction(async (tx) => {
    await tx.execute(sql`alter table events disable trigger user`)
    await fn(tx)
    await tx.execute(sql`alter table events enable trigger user`)
  })
}

t.test(
  '50 concurrent writes to one partnership keep the chain gapless and linked',
  { skip: needsPostgres },
  async (t) => {
    const { pid, base } = await partnershipOfTwo()
    const initial = (await kit.eventsAfter(alice, pid, 0)).length
    t.equal(initial, 4)

    const writes: Array<Promise<{ what: string; status: number; body: string }>> = []
    const track = async (what: string, p: ReturnType<typeof ctx.request>) => {
      const r = await p
      return { what, status: r.statusCode, body: r.body }
    }
    for (let i = 0; i < 50; i++) {
      const token = (i % 2 === 0 ? alice : bob).token
      // Every 5th write invites (the 6 free partner places, then the 4 observer places: at most as many pending
      // invitations as free places); the others rename (to a unique name, so each is a real change and logs an event).
      const invites = Math.floor(i / 5)
      if (i % 5 === 4)
        writes.push(
          track(
            `invite ${i}`,
            ctx.request({
              method: 'POST',
              url: `${base}/invitations`,
              token,
              body: { role: invites < 6 ? 'partner' : 'observer' }
            })
          )
        )
      else
        writes.push(
          track(
            `rename ${i}`,
            ctx.request({
              method: 'PATCH',
              url: base,
              token,
              headers: { 'if-match': '*' },
              body: { name: `Busy ${i}` }
            })
          )
        )
    }
    const started = performance.now()
    const results = await Promise.all(writes)
    const ms = performance.now() - started
    t.comment(`50 concurrent writes took ${ms.toFixed(0)} ms`)
    const failed = results
      .filter((r) => r.status < 200 || r.status > 299)
      .map((r) => `${r.what}: ${r.status} ${r.body.slice(0, 200)}`)
    t.same(failed, [], 'every write succeeded')
    t.equal(results.filter((r) => r.what.startsWith('invite') && r.status === 201).length, 10)
    t.equal(results.filter((r) => r.what.startsWith('rename') && r.status === 200).length, 40)

    const events = await kit.eventsAfter(alice, pid, 0)
    const n = initial + 50
    t.equal(events.length, n)
    t.same(
      events.map((e) => e.seq),
      Array.from({ length: n }, (_, i) => i + 1),
      'seq is exactly 1..n: no gap, no duplicate'
    )
    t.ok(events.every((e) => e.partnershipId === pid))
    checkChain(t, events)
    const later = events.slice(initial)
    t.equal(later.filter((e) => e.type === 'invitation.created').length, 10)
    t.equal(later.filter((e) => e.type === 'partnership.updated').length, 40)
    t.equal(later.filter((e) => e.actorId === alice.id).length, 25)
    t.equal(later.filter((e) => e.actorId === bob.id).length, 25)
    const current = (await ctx.request({ method: 'GET', url: base, token: alice.token })).json().name
    t.equal(
      later.findLast((e) => e.type === 'partnership.updated')?.data.name,
      current,
      'the last rename logged is the name that stuck'
    )
    t.match(await kit.verify(alice, pid), {
      valid: true,
      eventCount: n,
      head: { seq: n, hash: events.at(-1)!.hash },
      firstBrokenSeq: null,
      reason: null
    })
  }
)

t.test('the database rejects UPDATE, DELETE and TRUNCATE on events', async (t) => {
  const { pid, base } = await partnershipOfTwo()
  t.equal(await rename(base, alice, 'Still immutable'), 200)
  const before = await kit.eventsAfter(alice, pid, 0)
  t.equal(before.length, 5)

  const attempts: Array<[string, ReturnType<typeof sql>]> = [
    ['UPDATE', sql`update events set type = 'x'`],
    ['DELETE', sql`delete from events`],
    ['TRUNCATE', sql`truncate events`]
  ]
  for (const [op, statement] of attempts) {
    const err = await ctx.database.rows(statement).then(
      () => null,
      (e: unknown) => e
    )
    t.ok(err, `${op} is rejected`)
    t.match(
      messagesOf(err),
      new RegExp(`events are append-only: ${op} is not allowed`),
      `${op}: the append-only message`
    )
  }
  // Aimed at one row too, not only the whole table.
  const one = await ctx.database.rows(sql`update events set data = '{}'::jsonb where seq = 1`).then(
    () => null,
    (e: unknown) => e
  )
  t.match(messagesOf(one), /events are append-only: UPDATE is not allowed/)

  t.same(await kit.eventsAfter(alice, pid, 0), before, 'the log is unchanged')
  t.match(await kit.verify(alice, pid), { valid: true, eventCount: 5 })
})

t.test('tampering behind the triggers is caught by verify', async (t) => {
  // Each case on its own partnership: 4 events, then renames at seq 5..8 (8 events in all).
  async function victim(name: string) {
    const p = await partnershipOfTwo()
    for (let i = 1; i <= 4; i++) t.equal(await rename(p.base, i % 2 ? alice : bob, `${name} ${i}`), 200)
    const events = await kit.eventsAfter(alice, p.pid, 0)
    t.equal(events.length, 8)
    t.match(await kit.verify(alice, p.pid), { valid: true, eventCount: 8 }, `${name}: valid before tampering`)
    return { ...p, events }
  }
  const k = 6

  t.test('a changed data field: hash-mismatch at that seq', async (t) => {
    const { pid, events } = await victim('Data')
    t.equal(events[k - 1]!.type, 'partnership.updated')
    await behindTheTriggers((tx) =>
      tx.execute(
        sql`update events set data = ${JSON.stringify({ name: 'Rewritten' })}::jsonb where partnership_id = ${pid} and seq = ${k}`
      )
    )

    const after = await kit.eventsAfter(alice, pid, 0)
    t.same(after[k - 1]!.data, { name: 'Rewritten' }, 'the row was altered')
    const { hash, ...rest } = after[k - 1]!
    t.not(hashEvent(rest), hash, 'a client recomputing the hash sees it too')
    t.match(await kit.verify(alice, pid), { valid: false, head: null, firstBrokenSeq: k, reason: 'hash-mismatch' })

    // The triggers are back on.
    const err = await ctx.database.rows(sql`update events set type = 'x' where partnership_id = ${pid}`).then(
      () => null,
      (e: unknown) => e
    )
    t.match(messagesOf(err), /append-only/, 'the triggers were re-enabled')
  })

  t.test('a forged row whose hash matches its own new content: prev-hash-mismatch at the next seq', async (t) => {
    const { pid, events } = await victim('Forged')
    const { hash: _old, ...original } = events[k - 1]!
    const forgedData = { name: 'Forged history' }
    const forgedHash = hashEvent({ ...original, data: forgedData })
    await behindTheTriggers((tx) =>
      tx.execute(
        sql`update events set data = ${JSON.stringify(forgedData)}::jsonb, hash = ${forgedHash} where partnership_id = ${pid} and seq = ${k}`
      )
    )

    const after = await kit.eventsAfter(alice, pid, 0)
    const { hash, ...rest } = after[k - 1]!
    t.equal(hash, forgedHash)
    t.equal(hashEvent(rest), hash, 'row k is self-consistent: its own hash recomputes')
    // Row k still carries the untouched prevHash of row k-1 and now hashes correctly, so it
    // passes every check; row k+1's prevHash is the ORIGINAL hash of row k, which no longer
    // matches, and verify checks prevHash before recomputing the hash: the break shows at k+1.
    t.match(await kit.verify(alice, pid), {
      valid: false,
      head: null,
      firstBrokenSeq: k + 1,
      reason: 'prev-hash-mismatch'
    })
  })

  t.test('a deleted row: seq-gap at that seq', async (t) => {
    const { pid } = await victim('Gap')
    await behindTheTriggers((tx) => tx.execute(sql`delete from events where partnership_id = ${pid} and seq = ${k}`))
    const after = await kit.eventsAfter(alice, pid, 0)
    t.same(
      after.map((e) => e.seq),
      [1, 2, 3, 4, 5, 7, 8]
    )
    t.match(await kit.verify(alice, pid), { valid: false, head: null, firstBrokenSeq: k, reason: 'seq-gap' })
  })

  t.test(
    'with session_replication_role = replica instead',
    { skip: onPostgres ? false : 'PostgreSQL only (the ALTER TABLE cases above cover PGlite)' },
    async (t) => {
      const { pid } = await victim('Replica')
      await ctx.database.db.transaction(async (tx) => {
        await tx.execute(sql`set local session_replication_role = replica`)
        await tx.execute(sql`update events set type = 'member.left' where partnership_id = ${pid} and seq = ${k}`)
      })
      t.match(await kit.verify(alice, pid), { valid: false, firstBrokenSeq: k, reason: 'hash-mismatch' })
    }
  )

  t.test('the partnerships that were not touched still verify', async (t) => {
    const { pid } = await victim('Untouched')
    t.match(await kit.verify(alice, pid), { valid: true, eventCount: 8, firstBrokenSeq: null, reason: null })
  })
})

t.test('reading the log', async (t) => {
  // 4 events + 21 renames = 25 events.
  const { pid, base } = await partnershipOfTwo()
  for (let i = 1; i <= 21; i++) await rename(base, alice, `Pages ${i}`)
  const everything = await kit.eventsAfter(alice, pid, 0)
  t.equal(everything.length, 25)
  const seqs = (page: Page) => page.items.map((e) => e.seq)
  const get = async (query: string, token = alice.token) =>
    ctx.request({ method: 'GET', url: `${base}/events${query}`, token })
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

  t.test('oldest first, 20 by default, then a cursor to the rest', async (t) => {
    const first = (await get('')).json() as Page
    t.same(seqs(first), range(1, 20))
    t.type(first.nextCursor, 'string')
    const second = (await get(`?cursor=${first.nextCursor}`)).json() as Page
    t.same(seqs(second), range(21, 25))
    t.equal(second.nextCursor, null)
  })

  t.test('walking with a cursor visits every event once, in order', async (t) => {
    for (const limit of [1, 5, 7, 25, 100]) {
      const seen: number[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const res = await get(`?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`)
        t.equal(res.statusCode, 200)
        const page = res.json() as Page
        t.ok(page.items.length <= limit)
        seen.push(...seqs(page))
        cursor = page.nextCursor
        pages++
      } while (cursor !== null && pages < 50)
      t.same(seen, range(1, 25), `limit=${limit}`)
      t.equal(pages, Math.ceil(25 / limit), `limit=${limit}: no empty last page`)
    }
  })

  t.test('after= a seq', async (t) => {
    const page = (await get('?after=10&limit=3')).json() as Page
    t.same(seqs(page), [11, 12, 13])
    t.type(page.nextCursor, 'string')
    t.same(seqs((await get(`?cursor=${page.nextCursor}&limit=3`)).json()), [14, 15, 16])
    t.same(seqs((await get('?after=0&limit=2')).json()), [1, 2])
    t.same((await get('?after=20')).json(), { items: everything.slice(20), nextCursor: null })
    t.same((await get('?after=24')).json(), { items: [everything[24]], nextCursor: null })
    for (const after of [25, 26, 1000]) {
      const res = await get(`?after=${after}`)
      t.equal(res.statusCode, 200)
      t.same(res.json(), { items: [], nextCursor: null }, `after=${after}: beyond the head`)
    }
  })

  t.test('bad limits, afters and cursors are 400', async (t) => {
    for (const q of ['limit=0', 'limit=101', 'limit=-1', 'limit=abc']) {
      const res = await get(`?${q}`)
      t.equal(res.statusCode, 400, q)
      t.match(problemOf(res), { code: 'validation-failed', errors: [{ in: 'query', path: '/limit' }] }, q)
    }
    t.equal((await get('?limit=1')).json().items.length, 1)
    t.equal((await get('?limit=100')).json().items.length, 25)
    const negative = await get('?after=-1')
    t.equal(negative.statusCode, 400)
    t.match(problemOf(negative), { code: 'validation-failed', errors: [{ in: 'query', path: '/after' }] })
    for (const c of [
      'nope',
      Buffer.from('{"seq":-1}').toString('base64url'),
      Buffer.from('{"id":"x"}').toString('base64url')
    ]) {
      isProblem(t, await get(`?cursor=${c}`), 400, 'invalid-cursor', c)
    }
  })

  t.test('scopes: audit:read is required on both routes', async (t) => {
    const readOnly = await kit.scoped(alice, 'partnerships:read')
    for (const url of [`${base}/events`, `${base}/audit/verify`]) {
      const res = await ctx.request({ method: 'GET', url, token: readOnly })
      isProblem(t, res, 403, 'insufficient-scope', url)
      t.match(res.headers['www-authenticate'], /insufficient_scope.*scope="audit:read"/)
    }
    for (const scope of ['audit:read', 'partnerships:read audit:read']) {
      const token = await kit.scoped(alice, scope)
      t.equal((await ctx.request({ method: 'GET', url: `${base}/events`, token })).statusCode, 200, scope)
      t.match(
        (await ctx.request({ method: 'GET', url: `${base}/audit/verify`, token })).json(),
        { valid: true, eventCount: 25 },
        scope
      )
    }
  })

  t.test('strangers get 404 and anonymous callers 401', async (t) => {
    for (const url of [`${base}/events`, `${base}/audit/verify`]) {
      isProblem(t, await ctx.request({ method: 'GET', url, token: stranger.token }), 404, 'not-found', url)
      t.equal((await ctx.request({ method: 'GET', url })).statusCode, 401)
    }
  })

  t.test('an observer reads the log and verifies it', async (t) => {
    await kit.join(counselor, pid, 'observer', alice, [alice, bob])
    const events = await kit.eventsAfter(counselor, pid, 0)
    t.equal(events.length, 29)
    t.same(
      events.slice(25).map((e) => e.type),
      ['invitation.created', 'invitation.approved', 'invitation.approved', 'member.joined']
    )
    checkChain(t, events)
    t.match(await kit.verify(counselor, pid), {
      valid: true,
      eventCount: 29,
      head: { seq: 29, hash: events[28]!.hash }
    })
    t.ok(events.every((e) => e.partnershipId === pid))
  })
})

t.test('the shape of an event', async (t) => {
  const { pid, url } = await kit.partnership(alice, [], [], { name: 'Shape' })
  t.equal(await rename(url, alice, 'Shaped'), 200)
  const events = await kit.eventsAfter(alice, pid, 0)
  t.equal(events.length, 3)
  for (const e of events) {
    t.same(
      Object.keys(e).sort(),
      ['actorId', 'at', 'data', 'hash', 'partnershipId', 'prevHash', 'seq', 'subject', 'type'],
      `event ${e.seq}: exactly these fields`
    )
    t.same(Object.keys(e.subject).sort(), ['id', 'type'])
    t.type(e.subject.type, 'string')
    t.type(e.subject.id, 'string')
    t.equal(e.partnershipId, pid)
    t.equal(e.actorId, alice.id)
    t.match(e.at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/, 'RFC 3339 UTC')
    t.equal(new Date(e.at).toISOString(), e.at)
    t.match(e.hash, /^sha256:[0-9a-f]{64}$/)
    t.type(e.data, 'object')
  }
  t.equal(events[0]!.prevHash, null, 'the first event has no prevHash')
  t.equal(events[1]!.prevHash, events[0]!.hash)
  t.match(events[0], {
    seq: 1,
    type: 'partnership.created',
    subject: { type: 'partnership', id: pid },
    data: { name: 'Shape', timezone: 'Europe/Paris' }
  })
  t.match(events[1], {
    seq: 2,
    type: 'member.joined',
    subject: { type: 'user', id: alice.id },
    data: { role: 'partner' }
  })
  t.same(events[2]!.data, { name: 'Shaped' })
  checkChain(t, events)
})
