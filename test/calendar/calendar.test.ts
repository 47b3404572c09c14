// First: the process runs in Pacific/Auckland, so nothing below can lean on a UTC server.
import '../helpers/tz-auckland.ts'
import { randomBytes, randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import type { LightMyRequestResponse } from 'fastify'
import ICAL from 'ical.js'
import t, { type Test } from 'tap'
import { agreementKit, content, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem } from '../helpers/problems.ts'
import { reviewKit, weekly } from '../helpers/reviews.ts'

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const r = reviewKit(ctx, k)

interface FeedEvent {
  uid: string
  tzid: string | null
  start: Date
  hour: number
  minute: number
  summary: string
  durationMinutes: number
}

/** Parses a feed with ical.js: its time zones and its events by UID. */
function parseFeed(body: string): { tzids: string[]; events: Map<string, FeedEvent>; vevents: number } {
  const calendar = new ICAL.Component(ICAL.parse(body))
  if (calendar.name !== 'vcalendar') throw new Error(`not a VCALENDAR: ${calendar.name}`)
  const tzids = calendar.getAllSubcomponents('vtimezone').map((v) => String(v.getFirstPropertyValue('tzid')))
  const vevents = calendar.getAllSubcomponents('vevent')
  const events = new Map<string, FeedEvent>()
  for (const v of vevents) {
    const event = new ICAL.Event(v)
    const tzid = v.getFirstProperty('dtstart')?.getParameter('tzid')
    events.set(event.uid, {
      uid: event.uid,
      tzid: typeof tzid === 'string' ? tzid : null,
      start: event.startDate.toJSDate(),
      hour: event.startDate.hour,
      minute: event.startDate.minute,
      summary: event.summary,
      durationMinutes: (event.endDate.toJSDate().getTime() - event.startDate.toJSDate().getTime()) / 60_000
    })
  }
  return { tzids, events, vevents: vevents.length }
}

const uidOf = (aid: string): string => `agreement-${aid}@accord`
const feedPath = (token: string): string => `/v1/calendar/${token}.ics`
const getFeed = (path: string): Promise<LightMyRequestResponse> => ctx.request({ method: 'GET', url: path })

async function createToken(who: Person): Promise<{ id: string; token: string; url: string; path: string }> {
  const res = k.expectStatus(
    await ctx.request({ method: 'POST', url: '/v1/me/calendar-tokens', token: who.token }),
    201,
    'create calendar token'
  )
  const body = res.json()
  return { ...body, path: new URL(body.url).pathname }
}

async function fetchFeed(t: Test, path: string): Promise<ReturnType<typeof parseFeed>> {
  const res = await getFeed(path)
  t.equal(res.statusCode, 200, `GET ${path.slice(0, 30)}…: 200 (${res.body.slice(0, 200)})`)
  t.match(res.headers['content-type'], /^text\/calendar/)
  return parseFeed(res.body)
}

t.test('the process runs in Pacific/Auckland, far from UTC', async (t) => {
  t.equal(process.env.TZ, 'Pacific/Auckland')
  t.equal(Intl.DateTimeFormat().resolvedOptions().timeZone, 'Pacific/Auckland')
  t.not(new Date().getTimezoneOffset(), 0, `the process offset is ${new Date().getTimezoneOffset()} minutes`)
  t.not(
    new Date(Date.UTC(2026, 0, 15)).getTimezoneOffset(),
    new Date(Date.UTC(2026, 6, 15)).getTimezoneOffset(),
    'with DST of its own'
  )
})

t.test('a calendar token is shown once and stored only as a hash', async (t) => {
  const carol = await k.person('Carol')
  const res = await ctx.request({ method: 'POST', url: '/v1/me/calendar-tokens', token: carol.token })
  t.equal(res.statusCode, 201, res.body)
  const body = res.json()
  t.match(body.token, /^acc_cal_[A-Za-z0-9_-]{43,}$/, 'acc_cal_ and at least 43 base64url characters (256 bits)')
  t.equal(res.headers.location, `/v1/me/calendar-tokens/${body.id}`)
  t.equal(new URL(body.url).pathname, feedPath(body.token), 'the url is the feed')
  t.ok(body.url.startsWith(ctx.deps.config.publicUrl), 'on the public URL')
  t.ok(Math.abs(Date.parse(body.createdAt) - ctx.clock.now().getTime()) < 60_000, 'createdAt is now')

  const rows = await ctx.database.rows<{ id: string; token_hash: string; row: string }>(
    sql`select id, token_hash, row_to_json(c)::text as row from calendar_tokens c where user_id = ${carol.id}`
  )
  t.equal(rows.length, 1)
  t.not(rows[0]!.token_hash, body.token, 'not the token itself')
  t.notOk(rows[0]!.row.includes(body.token.slice('acc_cal_'.length)), 'the secret appears nowhere in the row')
  const everywhere = await ctx.database.rows<{ n: number }>(
    sql`select count(*)::int as n from calendar_tokens c where row_to_json(c)::text like ${`%${body.token.slice(8, 30)}%`}`
  )
  t.equal(everywhere[0]!.n, 0, 'nor in any other row')

  const second = await createToken(carol)
  t.not(second.token, body.token, 'each token is new')
  t.not(second.id, body.id)
  isProblem(
    t,
    await ctx.request({ method: 'POST', url: '/v1/me/calendar-tokens' }),
    401,
    'token-required',
    'without a bearer token'
  )
})

t.test("the feed: one event per active agreement with a review date, in the partnership's zone", async (t) => {
  const carol = await k.person('Carol')
  const alice = await k.person('Alice')
  const dan = await k.person('Dan')
  const frank = await k.person('Frank')
  const gina = await k.person('Gina')
  const mallory = await k.person('Mallory')

  const paris = await r.partnership('Europe/Paris', alice, [carol])
  const evenings = await k.activeAgreement(alice, [carol], paris, weekly('Evenings', '19:00'))
  const money = await k.activeAgreement(
    carol,
    [alice],
    paris,
    content({ title: 'Money talk', review: { rrule: 'FREQ=MONTHLY;BYDAY=1SU', time: '10:30' } })
  )
  const proposed = (await k.create(alice, paris, { content: weekly('Proposed only') })).id
  const suspended = await k.activeAgreement(alice, [carol], paris, weekly('Suspended one'))
  k.expectStatus(
    await ctx.request({
      method: 'DELETE',
      url: `${k.versionUrl(paris, suspended, 1)}/signatures/me`,
      token: carol.token
    }),
    204,
    'revoke consent'
  )
  const retired = await k.activeAgreement(alice, [carol], paris, weekly('Retired one'))
  const rid = (await r.openEarly(alice, paris, retired)).json().id
  await r.answer(alice, paris, retired, rid, { outcome: 'retire', rating: 2 })
  k.expectStatus(await r.answer(carol, paris, retired, rid, { outcome: 'retire', rating: 2 }), 200, 'retire')

  const newYork = await r.partnership('America/New_York', dan, [carol])
  const dateNight = await k.activeAgreement(dan, [carol], newYork, weekly('Date night', '20:00'))

  const tokyo = await r.partnership('Asia/Tokyo', frank, [carol, gina])
  const left = await k.activeAgreement(frank, [carol, gina], tokyo, weekly('Left behind'))
  k.expectStatus(
    await ctx.request({ method: 'DELETE', url: `/v1/partnerships/${tokyo}/members/me`, token: carol.token }),
    204,
    'leave'
  )
  t.equal((await k.agreement(frank, tokyo, left)).body.status, 'active', 'it is still active for those who stayed')

  const elsewhere = await r.partnership('Europe/Paris', alice, [mallory])
  const notHers = await k.activeAgreement(alice, [mallory], elsewhere, weekly("Not Carol's"))

  const statuses = await Promise.all(
    [
      [paris, proposed],
      [paris, suspended],
      [paris, retired]
    ].map(async ([pid, aid]) => (await k.agreement(alice, pid!, aid!)).body.status)
  )
  t.same(statuses, ['proposed', 'suspended', 'retired'])

  const cal = await createToken(carol)
  const res = await getFeed(cal.path)
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/calendar/)
  const cacheControl = String(res.headers['cache-control'] ?? '')
  t.match(cacheControl, /\bprivate\b/, `private (${cacheControl})`)
  t.notMatch(cacheControl, /no-store/, 'calendar apps may cache it')
  t.match(res.body, /^BEGIN:VCALENDAR\r\n/, 'CRLF line endings')
  const feed = parseFeed(res.body)

  const expected = new Map([
    [evenings, { pid: paris, zone: 'Europe/Paris', title: 'Evenings', local: [19, 0] }],
    [money, { pid: paris, zone: 'Europe/Paris', title: 'Money talk', local: [10, 30] }],
    [dateNight, { pid: newYork, zone: 'America/New_York', title: 'Date night', local: [20, 0] }]
  ])
  t.same(
    [...feed.events.keys()].sort(),
    [...expected.keys()].map(uidOf).sort(),
    'exactly the active agreements of her current partnerships'
  )
  t.equal(feed.vevents, expected.size, 'one VEVENT each')
  for (const absent of [proposed, suspended, retired, left, notHers])
    t.notOk(feed.events.has(uidOf(absent)), `${absent} is absent`)
  t.ok(
    feed.tzids.includes('Europe/Paris') && feed.tzids.includes('America/New_York'),
    `a VTIMEZONE for each zone (${feed.tzids.join(', ')})`
  )

  for (const [aid, e] of expected) {
    const a = (await k.agreement(carol, e.pid, aid)).body
    const event = feed.events.get(uidOf(aid))!
    t.equal(event.tzid, e.zone, `${e.title}: DTSTART in ${e.zone}`)
    t.ok(feed.tzids.includes(event.tzid!), `${e.title}: its TZID has a VTIMEZONE`)
    t.equal(event.start.toISOString(), a.nextReviewAt, `${e.title}: the instant is nextReviewAt`)
    t.same([event.hour, event.minute], e.local, `${e.title}: at the local review time`)
    t.match(event.summary, e.title, `${e.title}: the summary names the agreement`)
    t.equal(event.durationMinutes, 60)
  }

  t.match(
    res.body,
    /DTSTART;TZID=Europe\/Paris:\d{8}T\d{6}\r\n/,
    'DTSTART is a local wall time with its zone (not UTC "Z")'
  )
})

t.test('UIDs are stable; a review that moves the date moves the event', async (t) => {
  const carol = await k.person('Carol')
  const dan = await k.person('Dan')
  const pid = await r.partnership('America/New_York', dan, [carol])
  const aid = await k.activeAgreement(dan, [carol], pid, weekly('Walks', '08:15'))
  const other = await k.activeAgreement(
    carol,
    [dan],
    pid,
    content({ title: 'Monthly', review: { rrule: 'FREQ=MONTHLY;BYMONTHDAY=15', time: '18:00' } })
  )
  const cal = await createToken(carol)

  const first = await fetchFeed(t, cal.path)
  const again = await fetchFeed(t, cal.path)
  t.same([...again.events.values()], [...first.events.values()], 'two fetches: the same events, the same UIDs')
  t.same([...first.events.keys()].sort(), [uidOf(aid), uidOf(other)].sort())

  const { review, due } = await r.scheduledReview(dan, pid, aid, [dan, carol])
  t.equal(first.events.get(uidOf(aid))!.start.toISOString(), due.toISOString())
  await r.answer(dan, pid, aid, review.id, { outcome: 'keep', rating: 5 })
  k.expectStatus(await r.answer(carol, pid, aid, review.id, { outcome: 'keep', rating: 5 }), 200, 'keep')
  const moved = new Date((await k.agreement(carol, pid, aid)).body.nextReviewAt)
  t.ok(moved.getTime() > due.getTime(), 'the review moved the date')

  const after = await fetchFeed(t, cal.path)
  t.equal(after.vevents, 2, 'no event was added')
  const event = after.events.get(uidOf(aid))!
  t.ok(event, 'same UID')
  t.equal(event.start.toISOString(), moved.toISOString(), 'at the new date')
  t.same([event.hour, event.minute], [8, 15], 'still 08:15 in New York')
  t.equal(event.tzid, 'America/New_York')
  // The other agreement's date passed (its own review opened or not): its event is where the agreement says.
  t.equal(after.events.get(uidOf(other))!.start.toISOString(), (await k.agreement(carol, pid, other)).body.nextReviewAt)
})

t.test('revoked, unknown and malformed feeds are problems, never 500', async (t) => {
  const carol = await k.person('Carol')
  const mallory = await k.person('Mallory')
  const alice = await k.person('Alice')
  const pid = await r.partnership('Europe/Paris', alice, [carol])
  await k.activeAgreement(alice, [carol], pid, weekly('Kept'))
  const cal = await createToken(carol)
  const spare = await createToken(carol)
  t.equal((await getFeed(cal.path)).statusCode, 200)

  // Someone else's token id is not theirs to revoke.
  isProblem(
    t,
    await ctx.request({ method: 'DELETE', url: `/v1/me/calendar-tokens/${cal.id}`, token: mallory.token }),
    404,
    'not-found',
    'another user revokes it'
  )
  t.equal((await getFeed(cal.path)).statusCode, 200, 'the feed still works')
  isProblem(
    t,
    await ctx.request({ method: 'DELETE', url: `/v1/me/calendar-tokens/${randomUUID()}`, token: carol.token }),
    404,
    'not-found',
    'an unknown id'
  )
  isProblem(
    t,
    await ctx.request({ method: 'DELETE', url: '/v1/me/calendar-tokens/not-a-uuid', token: carol.token }),
    400,
    'validation-failed',
    'a malformed id'
  )

  t.equal(
    (await ctx.request({ method: 'DELETE', url: `/v1/me/calendar-tokens/${cal.id}`, token: carol.token })).statusCode,
    204,
    'revoked'
  )
  isProblem(
    t,
    await ctx.request({ method: 'DELETE', url: `/v1/me/calendar-tokens/${cal.id}`, token: carol.token }),
    404,
    'not-found',
    'revoked twice'
  )
  isProblem(t, await getFeed(cal.path), 404, 'not-found', 'a revoked feed')
  t.equal((await getFeed(spare.path)).statusCode, 200, 'her other feed still works')

  isProblem(
    t,
    await getFeed(feedPath(`acc_cal_${randomBytes(32).toString('base64url')}`)),
    404,
    'not-found',
    'an unknown token'
  )
  const malformed: Array<[string, string?]> = [
    ['/v1/calendar/abc.ics'],
    ['/v1/calendar/acc_cal_x.ics'],
    [`/v1/calendar/${spare.token}`],
    [`/v1/calendar/${spare.token}.ics.ics`],
    [`/v1/calendar/${spare.token}.ICS`],
    [`/v1/calendar/${spare.token.slice(0, -1)}.ics`],
    [`/v1/calendar/${spare.token}x.ics`],
    ['/v1/calendar/%00.ics'],
    ['/v1/calendar/acc_cal_%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd.ics'],
    ['/v1/calendar/.ics'],
    [`/v1/calendar/${encodeURIComponent('acc_cal_é'.padEnd(51, 'é'))}.ics`],
    [`/v1/calendar/acc_cal_${'A'.repeat(4000)}.ics`],
    ['/v1/calendar/acc_cal_%E0%A4%A.ics']
  ]
  for (const [url] of malformed) {
    const res = await getFeed(url)
    const what = url.slice(0, 60)
    t.ok(res.statusCode < 500, `${what}: never 5xx (got ${res.statusCode})`)
    t.ok(res.statusCode === 400 || res.statusCode === 404, `${what}: 400 or 404 (got ${res.statusCode})`)
    t.match(res.headers['content-type'], /^application\/problem\+json/, `${what}: a problem`)
  }
})

t.test(
  'calendar feeds are listed without their secrets, at most 10 work at once, and only profile:write makes or revokes them',
  async (t) => {
    const dan = await k.person('Dan')
    const list = async (token = dan.token) => ctx.request({ method: 'GET', url: '/v1/me/calendar-tokens', token })
    t.same((await list()).json(), { items: [], nextCursor: null }, 'none yet')

    // Class: a read-only token making a never-expiring secret (scope), and feeds nobody can find again (list, limit).
    const readOnly = await k.scoped(dan, 'partnerships:read agreements:read audit:read')
    isProblem(
      t,
      await ctx.request({ method: 'POST', url: '/v1/me/calendar-tokens', token: readOnly }),
      403,
      'insufficient-scope',
      'a read-only token cannot create one'
    )
    isProblem(t, await list(readOnly), 403, 'insufficient-scope', 'nor list them')
    const writer = await k.scoped(dan, 'profile:write')
    const made: Array<{ id: string; token: string; url: string }> = []
    for (let i = 0; i < 10; i++)
      made.push(
        k
          .expectStatus(
            await ctx.request({
              method: 'POST',
              url: '/v1/me/calendar-tokens',
              token: i % 2 === 0 ? writer : dan.token
            }),
            201,
            `feed ${i + 1}`
          )
          .json()
      )
    isProblem(
      t,
      await ctx.request({ method: 'POST', url: '/v1/me/calendar-tokens', token: dan.token }),
      409,
      'too-many-calendar-tokens',
      'the 11th'
    )
    const listed = (await list(writer)).json()
    t.same(
      listed.items.map((f: { id: string }) => f.id),
      made.map((m) => m.id),
      'every working feed, oldest first'
    )
    const text = JSON.stringify(listed)
    for (const m of made)
      t.notOk(text.includes(m.token.slice(8)) || text.includes('url'), 'no secret and no URL in the list')
    t.same(Object.keys(listed.items[0]).sort(), ['createdAt', 'id', 'lastUsedAt'])
    t.equal(listed.items[0].lastUsedAt, null, 'never fetched yet')

    isProblem(
      t,
      await ctx.request({ method: 'DELETE', url: `/v1/me/calendar-tokens/${made[0]!.id}`, token: readOnly }),
      403,
      'insufficient-scope',
      'a read-only token cannot revoke'
    )
    t.equal(
      (await ctx.request({ method: 'DELETE', url: `/v1/me/calendar-tokens/${made[0]!.id}`, token: writer })).statusCode,
      204
    )
    t.equal(
      (await ctx.request({ method: 'POST', url: '/v1/me/calendar-tokens', token: dan.token })).statusCode,
      201,
      'a revoked feed frees its place'
    )
    t.notOk(
      (await list()).json().items.some((f: { id: string }) => f.id === made[0]!.id),
      'a revoked feed is not listed'
    )

    const fetchedAt = ctx.clock.now()
    t.equal((await getFeed(new URL(made[1]!.url).pathname)).statusCode, 200)
    const used = (await list()).json().items.find((f: { id: string }) => f.id === made[1]!.id)
    t.ok(Math.abs(Date.parse(used.lastUsedAt) - fetchedAt.getTime()) < 60_000, 'fetching marks it used')
    t.equal(
      (await list()).json().items.find((f: { id: string }) => f.id === made[2]!.id).lastUsedAt,
      null,
      'and only it'
    )
  }
)

t.test('DTSTAMP is when the feed was generated, not the review date', async (t) => {
  const erin = await k.person('Erin')
  const alice = await k.person('Alice')
  const pid = await r.partnership('Europe/Paris', alice, [erin])
  await k.activeAgreement(alice, [erin], pid, weekly('Stamped'))
  const cal = await createToken(erin)
  const res = await getFeed(cal.path)
  const stamps = [...res.body.matchAll(/^DTSTAMP:(\d{8}T\d{6}Z)\r?$/gm)].map((m) => m[1]!)
  t.equal(stamps.length, 1, 'one event')
  const stamp = Date.UTC(
    Number(stamps[0]!.slice(0, 4)),
    Number(stamps[0]!.slice(4, 6)) - 1,
    Number(stamps[0]!.slice(6, 8)),
    Number(stamps[0]!.slice(9, 11)),
    Number(stamps[0]!.slice(11, 13)),
    Number(stamps[0]!.slice(13, 15))
  )
  t.ok(Math.abs(stamp - ctx.clock.now().getTime()) < 60_000, `DTSTAMP ${stamps[0]} is now`)
  t.match(res.headers['content-type'], /^text\/calendar/, 'sent as text/calendar, as documented')
})

t.test('a user with no partnerships gets an empty, valid calendar', async (t) => {
  const zoe = await k.person('Zoe')
  const cal = await createToken(zoe)
  const feed = await fetchFeed(t, cal.path)
  t.equal(feed.vevents, 0)
})
