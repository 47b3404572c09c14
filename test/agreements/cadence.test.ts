// First: the process runs in Pacific/Auckland, so nothing below can pass by leaning on a UTC process.
import '../helpers/tz-auckland.ts'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import rrule from 'rrule'
import t from 'tap'
import { firstReviewAfter, nextOccurrence, parseCadence } from '../../src/agreements/cadence.rules.ts'
import { zonedInstant } from '../../src/agreements/wall-clock.ts'
import { OUT_OF_TIME, runBounded } from '../../src/lib/bounded.ts'
import { agreementKit, content } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'

const PARIS = 'Europe/Paris'
const NEW_YORK = 'America/New_York'

/** How an instant reads on a wall in `tz`: "2026-03-29 19:00 GMT+2". */
function local(d: Date, tz: string): string {
  const p = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      timeZoneName: 'shortOffset'
    })
      .formatToParts(d)
      .map((x) => [x.type, x.value])
  )
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${p.timeZoneName}`
}

/** The next `n` occurrences from `anchor` (the activation), each computed after the previous one. */
function series(rrule: string, time: string, tz: string, anchor: string, n: number): Array<string | null> {
  const out: Array<string | null> = []
  let after = new Date(anchor)
  for (let i = 0; i < n; i++) {
    const next = nextOccurrence({ rrule, time }, tz, new Date(anchor), after)
    out.push(next === null ? null : next.toISOString())
    if (next === null) break
    after = next
  }
  return out
}

t.test('the process is not in UTC', async (t) => {
  t.equal(process.env.TZ, 'Pacific/Auckland')
  t.not(new Date(2026, 0, 1).getTimezoneOffset(), 0, 'local time is not UTC')
  t.equal(new Date(2026, 0, 1).getTimezoneOffset(), -13 * 60, 'NZDT in January')
  t.equal(Intl.DateTimeFormat().resolvedOptions().timeZone, 'Pacific/Auckland')
})

t.test('nextOccurrence at 19:00 across DST changes', async (t) => {
  // Expected instants computed by hand: Paris 19:00 CET = 18:00Z, CEST = 17:00Z;
  // New York 19:00 EST = 00:00Z the next day, EDT = 23:00Z the same day.
  // Paris: CEST from 2026-03-29 02:00, CET from 2026-10-25 03:00.
  // New York: EDT from 2026-03-08 02:00, EST from 2026-11-01 02:00.
  const cases: Array<{ name: string; rrule: string; tz: string; anchor: string; expected: Array<[string, string]> }> = [
    {
      name: 'Paris, first Sunday of the month, into summer time',
      rrule: 'FREQ=MONTHLY;BYDAY=1SU',
      tz: PARIS,
      anchor: '2026-02-15T12:00:00Z',
      expected: [
        ['2026-03-01T18:00:00.000Z', '2026-03-01 19:00 GMT+1'],
        ['2026-04-05T17:00:00.000Z', '2026-04-05 19:00 GMT+2'],
        ['2026-05-03T17:00:00.000Z', '2026-05-03 19:00 GMT+2']
      ]
    },
    {
      name: 'Paris, first Sunday of the month, into winter time',
      rrule: 'FREQ=MONTHLY;BYDAY=1SU',
      tz: PARIS,
      anchor: '2026-09-15T12:00:00Z',
      expected: [
        ['2026-10-04T17:00:00.000Z', '2026-10-04 19:00 GMT+2'],
        ['2026-11-01T18:00:00.000Z', '2026-11-01 19:00 GMT+1'],
        ['2026-12-06T18:00:00.000Z', '2026-12-06 19:00 GMT+1']
      ]
    },
    {
      name: 'Paris, weekly over March 29 (the change day itself is an occurrence)',
      rrule: 'FREQ=WEEKLY',
      tz: PARIS,
      anchor: '2026-03-22T12:00:00Z',
      expected: [
        ['2026-03-22T18:00:00.000Z', '2026-03-22 19:00 GMT+1'],
        ['2026-03-29T17:00:00.000Z', '2026-03-29 19:00 GMT+2'],
        ['2026-04-05T17:00:00.000Z', '2026-04-05 19:00 GMT+2']
      ]
    },
    {
      name: 'Paris, weekly over October 25',
      rrule: 'FREQ=WEEKLY',
      tz: PARIS,
      anchor: '2026-10-18T12:00:00Z',
      expected: [
        ['2026-10-18T17:00:00.000Z', '2026-10-18 19:00 GMT+2'],
        ['2026-10-25T18:00:00.000Z', '2026-10-25 19:00 GMT+1'],
        ['2026-11-01T18:00:00.000Z', '2026-11-01 19:00 GMT+1']
      ]
    },
    {
      name: 'New York, first Sunday of the month, into daylight time',
      rrule: 'FREQ=MONTHLY;BYDAY=1SU',
      tz: NEW_YORK,
      anchor: '2026-02-15T17:00:00Z',
      expected: [
        ['2026-03-02T00:00:00.000Z', '2026-03-01 19:00 GMT-5'],
        ['2026-04-05T23:00:00.000Z', '2026-04-05 19:00 GMT-4'],
        ['2026-05-03T23:00:00.000Z', '2026-05-03 19:00 GMT-4']
      ]
    },
    {
      name: 'New York, first Sunday of the month, into standard time (November 1 is the change day)',
      rrule: 'FREQ=MONTHLY;BYDAY=1SU',
      tz: NEW_YORK,
      anchor: '2026-09-15T16:00:00Z',
      expected: [
        ['2026-10-04T23:00:00.000Z', '2026-10-04 19:00 GMT-4'],
        ['2026-11-02T00:00:00.000Z', '2026-11-01 19:00 GMT-5'],
        ['2026-12-07T00:00:00.000Z', '2026-12-06 19:00 GMT-5']
      ]
    },
    {
      name: 'New York, weekly over March 8',
      rrule: 'FREQ=WEEKLY',
      tz: NEW_YORK,
      anchor: '2026-03-01T15:00:00Z',
      expected: [
        ['2026-03-02T00:00:00.000Z', '2026-03-01 19:00 GMT-5'],
        ['2026-03-08T23:00:00.000Z', '2026-03-08 19:00 GMT-4'],
        ['2026-03-15T23:00:00.000Z', '2026-03-15 19:00 GMT-4']
      ]
    },
    {
      name: 'New York, weekly over November 1',
      rrule: 'FREQ=WEEKLY',
      tz: NEW_YORK,
      anchor: '2026-10-25T15:00:00Z',
      expected: [
        ['2026-10-25T23:00:00.000Z', '2026-10-25 19:00 GMT-4'],
        ['2026-11-02T00:00:00.000Z', '2026-11-01 19:00 GMT-5'],
        ['2026-11-09T00:00:00.000Z', '2026-11-08 19:00 GMT-5']
      ]
    }
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const got = series(c.rrule, '19:00', c.tz, c.anchor, c.expected.length)
      t.strictSame(
        got,
        c.expected.map(([iso]) => iso),
        'the instants'
      )
      t.strictSame(
        got.map((iso) => local(new Date(iso!), c.tz)),
        c.expected.map(([, wall]) => wall),
        'each reads 19:00 on the wall, with the offset of its day'
      )
    })
  }
})

t.test('a local time that does not exist moves forward by the jump', async (t) => {
  // Paris, 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 is never on a wall.
  t.strictSame(series('FREQ=WEEKLY', '02:30', PARIS, '2026-03-22T12:00:00Z', 2), [
    '2026-03-29T01:30:00.000Z',
    '2026-04-05T00:30:00.000Z'
  ])
  t.equal(local(new Date('2026-03-29T01:30:00Z'), PARIS), '2026-03-29 03:30 GMT+2', '02:30 becomes 03:30 local')
  t.equal(local(new Date('2026-04-05T00:30:00Z'), PARIS), '2026-04-05 02:30 GMT+2', 'and the next week is 02:30 again')
  t.equal(zonedInstant(new Date('2026-03-29T02:30:00Z'), PARIS).toISOString(), '2026-03-29T01:30:00.000Z')
  // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT.
  t.strictSame(series('FREQ=WEEKLY', '02:30', NEW_YORK, '2026-03-01T12:00:00Z', 1), ['2026-03-08T07:30:00.000Z'])
  t.equal(local(new Date('2026-03-08T07:30:00Z'), NEW_YORK), '2026-03-08 03:30 GMT-4')
})

t.test('a repeated local time takes its first occurrence (RFC 5545 §3.3.5)', async (t) => {
  // New York, 2026-11-01: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
  t.equal(
    zonedInstant(new Date('2026-11-01T01:30:00Z'), NEW_YORK).toISOString(),
    '2026-11-01T05:30:00.000Z',
    'New York (west of UTC)'
  )
  t.strictSame(series('FREQ=WEEKLY', '01:30', NEW_YORK, '2026-10-25T12:00:00Z', 1), ['2026-11-01T05:30:00.000Z'])
  // Paris, 2026-10-25: 02:30 happens at 00:30Z (CEST) and again at 01:30Z (CET).
  t.equal(
    zonedInstant(new Date('2026-10-25T02:30:00Z'), PARIS).toISOString(),
    '2026-10-25T00:30:00.000Z',
    'Paris (east of UTC)'
  )
  t.strictSame(
    series('FREQ=WEEKLY', '02:30', PARIS, '2026-10-18T12:00:00Z', 1),
    ['2026-10-25T00:30:00.000Z'],
    'a weekly 02:30 review in Paris on the change day'
  )
  // Auckland, 2026-04-05: 02:30 happens at 13:30Z (NZDT) and again at 14:30Z (NZST), the day before in UTC.
  t.equal(
    zonedInstant(new Date('2026-04-05T02:30:00Z'), 'Pacific/Auckland').toISOString(),
    '2026-04-04T13:30:00.000Z',
    'Auckland'
  )
  // Whatever the choice, a repeated wall time is one review, not two.
  const twice = series('FREQ=WEEKLY', '02:30', PARIS, '2026-10-18T12:00:00Z', 2)
  t.equal(twice[1], '2026-11-01T01:30:00.000Z', 'the next review is a week later, not the repeated 02:30')
})

t.test('other parts of the rule', async (t) => {
  t.strictSame(
    series('FREQ=WEEKLY;INTERVAL=2', '19:00', PARIS, '2026-03-01T12:00:00Z', 4),
    ['2026-03-01T18:00:00.000Z', '2026-03-15T18:00:00.000Z', '2026-03-29T17:00:00.000Z', '2026-04-12T17:00:00.000Z'],
    'every other Sunday from the activation, across the change'
  )
  t.strictSame(
    series('FREQ=DAILY;INTERVAL=7', '19:00', PARIS, '2026-03-22T12:00:00Z', 3),
    ['2026-03-22T18:00:00.000Z', '2026-03-29T17:00:00.000Z', '2026-04-05T17:00:00.000Z'],
    'DAILY;INTERVAL=7 is weekly'
  )
  t.strictSame(
    series('FREQ=MONTHLY;BYMONTHDAY=15', '19:00', PARIS, '2026-03-20T12:00:00Z', 3),
    ['2026-04-15T17:00:00.000Z', '2026-05-15T17:00:00.000Z', '2026-06-15T17:00:00.000Z'],
    "the 15th, from the next month when this one's has passed"
  )
  t.strictSame(
    series('FREQ=MONTHLY;BYMONTHDAY=1,15', '19:00', NEW_YORK, '2026-10-20T12:00:00Z', 3),
    ['2026-11-02T00:00:00.000Z', '2026-11-16T00:00:00.000Z', '2026-12-02T00:00:00.000Z'],
    'the 1st and the 15th'
  )
  t.strictSame(
    series('FREQ=YEARLY;BYMONTH=11;BYDAY=1SU', '19:00', NEW_YORK, '2026-06-01T12:00:00Z', 3),
    ['2026-11-02T00:00:00.000Z', '2027-11-08T00:00:00.000Z', '2028-11-06T00:00:00.000Z'],
    'yearly, the first Sunday of November'
  )
  t.strictSame(
    series('FREQ=YEARLY;BYMONTH=3', '19:00', PARIS, '2026-03-29T12:00:00Z', 3),
    ['2026-03-29T17:00:00.000Z', '2027-03-29T17:00:00.000Z', '2028-03-29T17:00:00.000Z'],
    "yearly in March, on the activation's day of month"
  )
  t.strictSame(
    series('FREQ=WEEKLY', '08:15', 'Pacific/Auckland', '2026-03-31T12:00:00Z', 2),
    ['2026-03-31T19:15:00.000Z', '2026-04-07T20:15:00.000Z'],
    'Auckland (the process zone too) leaves summer time on April 5: Wednesdays 08:15 NZDT, then NZST'
  )
})

t.test('the rule ends', async (t) => {
  t.strictSame(
    series('FREQ=WEEKLY;COUNT=2', '19:00', PARIS, '2026-03-01T12:00:00Z', 5),
    ['2026-03-01T18:00:00.000Z', '2026-03-08T18:00:00.000Z', null],
    'COUNT exhausted → null'
  )
  t.strictSame(
    series('FREQ=WEEKLY;UNTIL=20260310T000000Z', '19:00', PARIS, '2026-03-01T12:00:00Z', 5),
    ['2026-03-01T18:00:00.000Z', '2026-03-08T18:00:00.000Z', null],
    'past UNTIL → null'
  )
  t.equal(
    nextOccurrence(
      { rrule: 'FREQ=WEEKLY;UNTIL=20260101T000000Z', time: '19:00' },
      PARIS,
      new Date('2026-03-01T12:00:00Z'),
      new Date('2026-03-01T12:00:00Z')
    ),
    null,
    'UNTIL before the activation → null'
  )
  t.equal(
    nextOccurrence(
      { rrule: 'FREQ=MONTHLY;COUNT=3', time: '19:00' },
      NEW_YORK,
      new Date('2026-01-10T12:00:00Z'),
      new Date('2026-06-01T12:00:00Z')
    ),
    null,
    'asked long after the last of three'
  )
})

t.test('parseCadence', async (t) => {
  const rejected: Array<[string, RegExp]> = [
    ['FREQ=DAILY', /at most weekly/],
    ['FREQ=WEEKLY;BYDAY=MO,TH', /at most weekly/],
    ['FREQ=MONTHLY;BYMONTHDAY=1,2', /at most weekly/],
    ['FREQ=WEEKLY;BYHOUR=3', /BYHOUR is not supported/],
    ['FREQ=WEEKLY;BYMINUTE=30', /BYMINUTE is not supported/],
    ['FREQ=HOURLY', /FREQ must be/],
    ['FREQ=MINUTELY;INTERVAL=100000', /FREQ must be|INTERVAL/],
    ['FREQ=WEEKLY;COUNT=3;UNTIL=20270101T000000Z', /COUNT and UNTIL/],
    ['FREQ=WEEKLY;FREQ=MONTHLY', /twice/],
    ['INTERVAL=2', /FREQ must be/],
    ['FREQ=WEEKLY;UNTIL=20200101T000000Z', /no occurrence/],
    ['garbage', /not an RRULE/],
    ['FREQ=', /not an RRULE/],
    ['FREQ=WEEKLY;;', /not an RRULE/],
    ['FREQ=WEEKLY;BYDAY=XX', /BYDAY|invalid RRULE/],
    ['FREQ=WEEKLY;UNTIL=tomorrow', /UNTIL|invalid RRULE/],
    ['FREQ=WEEKLY;INTERVAL=0', /INTERVAL|no occurrence/],
    ['FREQ=WEEKLY;COUNT=0', /COUNT|no occurrence/],
    ['FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30', /no occurrence/],
    ['FREQ=YEARLY;INTERVAL=6', /more than 5 years apart/],
    ['FREQ=MONTHLY;INTERVAL=72', /more than 5 years apart/],
    ['FREQ=YEARLY;INTERVAL=7;COUNT=2', /more than 5 years apart/]
  ]
  for (const [rule, why] of rejected) {
    const { problem } = parseCadence(rule)
    t.match(problem, why, `rejects ${rule}`)
  }
  for (const rule of [
    'FREQ=WEEKLY',
    'FREQ=DAILY;INTERVAL=7',
    'FREQ=MONTHLY;BYMONTHDAY=1,15',
    'FREQ=MONTHLY;BYDAY=1SU',
    'FREQ=MONTHLY;BYDAY=MO',
    'FREQ=WEEKLY;INTERVAL=2;BYDAY=SA',
    'FREQ=YEARLY;BYMONTH=3,9',
    'FREQ=WEEKLY;COUNT=4',
    'freq=weekly',
    'RRULE:FREQ=WEEKLY',
    'FREQ=WEEKLY;UNTIL=20991231T000000Z',
    'FREQ=YEARLY;INTERVAL=5',
    'FREQ=YEARLY;INTERVAL=9;COUNT=1'
  ]) {
    t.equal(parseCadence(rule).problem, null, `accepts ${rule}`)
  }
})

// Rules with no occurrence at all (or none for decades): rrule steps period by period to the year 9999 looking for one.
const NEVER = [
  'FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30',
  'FREQ=DAILY;BYMONTH=4,6,9,11;BYMONTHDAY=31',
  'FREQ=WEEKLY;BYMONTH=2;BYMONTHDAY=-30',
  'FREQ=DAILY;INTERVAL=1;BYMONTHDAY=31;BYMONTH=2',
  'FREQ=MONTHLY;BYDAY=5MO;BYMONTHDAY=1',
  'FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29',
  'FREQ=MONTHLY;BYDAY=-5SU;BYMONTHDAY=2,3;BYMONTH=2',
  'rrule:freq=daily;bymonth=2;bymonthday=30'
]

// Never from the January start validation uses (an interval of 12 months never reaches March from January).
const NEVER_FROM_JANUARY = ['FREQ=MONTHLY;INTERVAL=12;BYMONTH=3']

t.test('rules that never occur are refused in bounded time (class: unbounded work in a validator)', async (t) => {
  for (const rule of [...NEVER, ...NEVER_FROM_JANUARY]) {
    const started = performance.now()
    t.match(parseCadence(rule).problem, /no occurrence within 5 years/, `refuses ${rule}`)
    t.ok(performance.now() - started < 1000, `within a second (${Math.round(performance.now() - started)} ms)`)
  }
  for (const rule of NEVER) {
    const started = performance.now()
    t.equal(
      nextOccurrence(
        { rrule: rule, time: '19:00' },
        PARIS,
        new Date('2026-03-01T12:00:00Z'),
        new Date('2026-03-01T12:00:00Z')
      ),
      null,
      `no next date for ${rule}`
    )
    t.ok(
      performance.now() - started < 3000,
      `found out within the budget and its one retry (${Math.round(performance.now() - started)} ms)`
    )
  }
})

// Rules that occur from a Thursday in January (where validation used to start them) but not from every start:
// their INTERVAL steps over what their BY parts select. Accepted, they left an agreement activated on another day
// with no review, after rrule stepped to the year 9999 looking for one (2.2 s with the event loop held).
const NOT_FROM_EVERY_START = [
  ['FREQ=DAILY;INTERVAL=7;BYDAY=TH', '2026-01-02'],
  ['FREQ=DAILY;INTERVAL=14;BYDAY=TH', '2026-01-02'],
  ['FREQ=MONTHLY;INTERVAL=2;BYMONTH=1', '2026-02-01'],
  ['FREQ=YEARLY;INTERVAL=2;BYMONTH=2;BYMONTHDAY=29', '2027-01-01']
] as const

t.test('a rule must occur whatever the day it starts, when its INTERVAL could step over what it selects', async (t) => {
  for (const [rule, start] of NOT_FROM_EVERY_START)
    t.match(parseCadence(rule).problem, new RegExp(`when it starts on ${start} \\(its INTERVAL steps over`), rule)
  for (const rule of ['FREQ=DAILY;INTERVAL=9;BYDAY=MO', 'FREQ=MONTHLY;INTERVAL=5;BYMONTH=1', 'FREQ=DAILY;INTERVAL=7'])
    t.equal(parseCadence(rule).problem, null, `${rule} occurs from any start`)
})

t.test(
  'an evaluation looks no further than the horizon: a rule with nothing left stops there, not at 9999',
  async (t) => {
    const { RRule } = rrule
    // From a Monday, every 7 days is always a Monday: no Thursday, ever. Unpatched, rrule steps to 9999 (about 2 s).
    const monday = new Date(Date.UTC(2026, 11, 7, 19, 0))
    const until = new Date(Date.UTC(2031, 11, 7, 19, 0))
    const rule = new RRule({ freq: RRule.DAILY, interval: 7, byweekday: [RRule.TH], dtstart: monday, until })
    t.equal(
      runBounded(() => rule.after(monday, true), 1000),
      null,
      'rrule stops at the first period past UNTIL'
    )
    const unbounded = new RRule({ freq: RRule.DAILY, interval: 7, byweekday: [RRule.TH], dtstart: monday })
    t.equal(
      runBounded(() => unbounded.after(monday, true), 100),
      OUT_OF_TIME,
      'the control: without UNTIL it runs on'
    )
    // Already stored with such a rule (validated before this check): its next review is none, found at once.
    for (const [rrule] of NOT_FROM_EVERY_START) {
      const next = runBounded(
        () =>
          nextOccurrence(
            { rrule, time: '19:00' },
            PARIS,
            new Date('2026-12-07T12:00:00Z'),
            new Date('2026-12-08T12:00:00Z')
          ),
        1000
      )
      t.not(next, OUT_OF_TIME, `${rrule}: answered within its horizon (not stopped from outside)`)
      // Activated on a Monday in December: never a Thursday every 7 or 14 days, never January every 2 months.
      if (!rrule.startsWith('FREQ=YEARLY')) t.equal(next, null, `${rrule}: from this start, no next review`)
    }
  }
)

t.test(
  'POST agreements with such a rule: a 400 within a second, for members and strangers, while /healthz keeps answering',
  async (t) => {
    const ctx = await buildTestApp(t)
    await ctx.app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
    const k = agreementKit(ctx)
    const alice = await k.person('Alice')
    const bob = await k.person('Bob')
    const mallory = await k.person('Mallory')
    const { pid } = await k.partnership(alice, [bob])
    const timed = async (url: string, init?: RequestInit): Promise<{ status: number; ms: number; body: string }> => {
      const started = performance.now()
      const res = await fetch(url, init)
      return { status: res.status, body: await res.text(), ms: performance.now() - started }
    }
    for (const [who, partnershipId] of [
      [alice, pid],
      [mallory, randomUUID()]
    ] as const) {
      for (const rule of [...NEVER, ...NEVER_FROM_JANUARY]) {
        const [created, health] = await Promise.all([
          timed(`${base}/v1/partnerships/${partnershipId}/agreements`, {
            method: 'POST',
            headers: { authorization: `Bearer ${who.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ content: content({ review: { rrule: rule } }) })
          }),
          new Promise((resolve) => setTimeout(resolve, 5)).then(() => timed(`${base}/healthz`))
        ])
        t.equal(created.status, 400, `${who.name}: ${rule} is a 400`)
        t.match(JSON.parse(created.body).errors, [{ path: '/content/review/rrule', message: /no occurrence/ }])
        t.ok(created.ms < 1000, `${who.name}: answered within a second (${Math.round(created.ms)} ms)`)
        t.equal(health.status, 200, '/healthz answered meanwhile')
        t.ok(health.ms < 1000, `/healthz within a second (${Math.round(health.ms)} ms)`)
      }
    }
  }
)

t.test('a cadence is stored without its RRULE: prefix and in upper case, so equal rules hash equal', async (t) => {
  const ctx = await buildTestApp(t)
  const k = agreementKit(ctx)
  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const { pid } = await k.partnership(alice, [bob])
  const a = await k.create(alice, pid, { content: content({ review: { rrule: '  RRULE:freq=monthly;byday=1su ' } }) })
  const b = await k.create(alice, pid, { content: content({ review: { rrule: 'FREQ=MONTHLY;BYDAY=1SU' } }) })
  t.equal(a.proposal.content.review.rrule, 'FREQ=MONTHLY;BYDAY=1SU')
  t.same(a.proposal.content, b.proposal.content, 'the two contents are the same')
})

/**
 * Runs parseCadence in a child process, so that a rule that never returns
 * (rrule looping forever on an interval it cannot use) fails this test instead
 * of freezing it.
 */
function parseInChild(rule: string, timeoutMs = 10_000): Promise<{ returned: boolean; problem: string | null }> {
  const module = new URL('../../src/agreements/cadence.rules.ts', import.meta.url).href
  const code =
    'const { parseCadence } = await import(process.argv[1]); process.stdout.write(JSON.stringify(parseCadence(process.argv[2])))'
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', code, module, rule],
      { timeout: timeoutMs, killSignal: 'SIGKILL' },
      (err, stdout) => {
        if (err) resolve({ returned: false, problem: null })
        else resolve({ returned: true, problem: (JSON.parse(stdout) as { problem: string | null }).problem })
      }
    )
  })
}

t.test('parseCadence checks the syntax of each value', async (t) => {
  const control = await parseInChild('FREQ=WEEKLY;BYHOUR=1', 60_000)
  t.strictSame(
    control,
    {
      returned: true,
      problem: 'BYHOUR is not supported (use FREQ, INTERVAL, BYDAY, BYMONTHDAY, BYMONTH, COUNT, UNTIL)'
    },
    'the child process works'
  )
  // INTERVAL=two and INTERVAL=-1 used to send rrule into an endless loop inside request validation.
  const cases = [
    'FREQ=WEEKLY;INTERVAL=two',
    'FREQ=WEEKLY;INTERVAL=-1',
    'FREQ=WEEKLY;INTERVAL=1.5',
    'FREQ=WEEKLY;COUNT=abc',
    'FREQ=WEEKLY;COUNT=-1',
    'FREQ=WEEKLY;COUNT=1.5'
  ]
  const results = await Promise.all(cases.map((rule) => parseInChild(rule)))
  for (const [i, rule] of cases.entries()) {
    t.ok(
      results[i]!.returned && results[i]!.problem !== null,
      `rejects ${rule} (returned: ${results[i]!.returned}, problem: ${results[i]!.problem})`
    )
  }
})

t.test('activation sets nextReviewAt to the first occurrence after it, across a DST change', async (t) => {
  const ctx = await buildTestApp(t)
  const k = agreementKit(ctx)
  /** Moves the injected clock to an instant (it keeps running from there). */
  const setClock = (iso: string) => ctx.clock.advance(new Date(iso).getTime() - ctx.clock.now().getTime())

  setClock('2026-03-01T12:00:00Z')
  const [alice, bob] = [await k.person('Alice'), await k.person('Bob')]
  const paris = (await k.partnership(alice, [bob], [], { timezone: PARIS })).pid
  const newYork = (await k.partnership(alice, [bob], [], { timezone: NEW_YORK })).pid

  /** Alice proposes, Bob signs: the agreement is active; returns what a client reads back. */
  const activate = async (pid: string, rrule: string): Promise<{ nextReviewAt: string; activatedAt: string }> => {
    const content = {
      title: `Review ${rrule}`,
      category: 'communication',
      clauses: [{ key: 'check-in', text: 'We check in with each other.' }],
      review: { rrule, time: '19:00' }
    }
    const created = await ctx.request({
      method: 'POST',
      url: `/v1/partnerships/${pid}/agreements`,
      token: alice.token,
      body: { content }
    })
    t.equal(created.statusCode, 201, created.body)
    const a = created.json()
    const signed = await ctx.request({
      method: 'POST',
      url: `/v1/partnerships/${pid}/agreements/${a.id}/versions/1/signatures`,
      token: bob.token,
      body: { contentHash: a.proposal.contentHash }
    })
    t.equal(signed.statusCode, 201, signed.body)
    t.equal(signed.json().agreementStatus, 'active')
    const read = (
      await ctx.request({ method: 'GET', url: `/v1/partnerships/${pid}/agreements/${a.id}`, token: alice.token })
    ).json()
    const version = (
      await ctx.request({
        method: 'GET',
        url: `/v1/partnerships/${pid}/agreements/${a.id}/versions/1`,
        token: alice.token
      })
    ).json()
    return { nextReviewAt: read.nextReviewAt, activatedAt: version.activatedAt }
  }

  const cases: Array<{
    name: string
    pid: string
    tz: string
    clock: string
    change: string
    rrule: string
    expected: string
    wall: string
  }> = [
    // New York springs forward at 2026-03-08 07:00Z (02:00 EST → 03:00 EDT): activation at 01:30 EST.
    {
      name: 'New York, weekly, activated 30 min before spring-forward',
      pid: newYork,
      tz: NEW_YORK,
      clock: '2026-03-08T06:30:00Z',
      change: '2026-03-08T07:00:00Z',
      rrule: 'FREQ=WEEKLY',
      expected: '2026-03-08T23:00:00.000Z',
      wall: '2026-03-08 19:00 GMT-4'
    },
    {
      name: 'New York, first Sunday, activated 30 min before spring-forward',
      pid: newYork,
      tz: NEW_YORK,
      clock: '2026-03-08T06:30:00Z',
      change: '2026-03-08T07:00:00Z',
      rrule: 'FREQ=MONTHLY;BYDAY=1SU',
      expected: '2026-04-05T23:00:00.000Z',
      wall: '2026-04-05 19:00 GMT-4'
    },
    // Paris springs forward at 2026-03-29 01:00Z (02:00 CET → 03:00 CEST): activation at 01:30 CET.
    {
      name: 'Paris, weekly, activated 30 min before spring-forward',
      pid: paris,
      tz: PARIS,
      clock: '2026-03-29T00:30:00Z',
      change: '2026-03-29T01:00:00Z',
      rrule: 'FREQ=WEEKLY',
      expected: '2026-03-29T17:00:00.000Z',
      wall: '2026-03-29 19:00 GMT+2'
    },
    {
      name: 'Paris, first Sunday, activated 30 min before spring-forward',
      pid: paris,
      tz: PARIS,
      clock: '2026-03-29T00:30:00Z',
      change: '2026-03-29T01:00:00Z',
      rrule: 'FREQ=MONTHLY;BYDAY=1SU',
      expected: '2026-04-05T17:00:00.000Z',
      wall: '2026-04-05 19:00 GMT+2'
    },
    // Paris falls back at 2026-10-25 01:00Z (03:00 CEST → 02:00 CET): activation at 01:30 CEST.
    {
      name: 'Paris, weekly, activated 30 min before fall-back',
      pid: paris,
      tz: PARIS,
      clock: '2026-10-24T23:30:00Z',
      change: '2026-10-25T01:00:00Z',
      rrule: 'FREQ=WEEKLY',
      expected: '2026-10-25T18:00:00.000Z',
      wall: '2026-10-25 19:00 GMT+1'
    },
    {
      name: 'Paris, first Sunday, activated 30 min before fall-back',
      pid: paris,
      tz: PARIS,
      clock: '2026-10-24T23:30:00Z',
      change: '2026-10-25T01:00:00Z',
      rrule: 'FREQ=MONTHLY;BYDAY=1SU',
      expected: '2026-11-01T18:00:00.000Z',
      wall: '2026-11-01 19:00 GMT+1'
    },
    // New York falls back at 2026-11-01 06:00Z (02:00 EDT → 01:00 EST): activation at 01:30 EDT.
    {
      name: 'New York, weekly, activated 30 min before fall-back',
      pid: newYork,
      tz: NEW_YORK,
      clock: '2026-11-01T05:30:00Z',
      change: '2026-11-01T06:00:00Z',
      rrule: 'FREQ=WEEKLY',
      expected: '2026-11-02T00:00:00.000Z',
      wall: '2026-11-01 19:00 GMT-5'
    },
    {
      name: 'New York, first Sunday, activated 30 min before fall-back (the change day is the first Sunday)',
      pid: newYork,
      tz: NEW_YORK,
      clock: '2026-11-01T05:30:00Z',
      change: '2026-11-01T06:00:00Z',
      rrule: 'FREQ=MONTHLY;BYDAY=1SU',
      expected: '2026-11-02T00:00:00.000Z',
      wall: '2026-11-01 19:00 GMT-5'
    }
  ]
  for (const c of cases) {
    setClock(c.clock)
    // Tokens are verified against the injected clock: mint them after each move.
    await k.refresh([alice, bob])
    const { nextReviewAt, activatedAt } = await activate(c.pid, c.rrule)
    t.ok(
      new Date(activatedAt) >= new Date(c.clock) && new Date(activatedAt) < new Date(c.change),
      `${c.name}: activated at ${activatedAt}, before the change at ${c.change}`
    )
    t.equal(nextReviewAt, c.expected, `${c.name}: nextReviewAt`)
    t.equal(local(new Date(nextReviewAt), c.tz), c.wall, `${c.name}: 19:00 on the partnership's wall`)
  }
})

t.test(
  'firstReviewAfter (kept per local date) equals nextOccurrence from the activation, around every DST change',
  async (t) => {
    const rules = [
      'FREQ=WEEKLY',
      'FREQ=WEEKLY;INTERVAL=2;BYDAY=SU',
      'FREQ=WEEKLY;BYDAY=MO,TH',
      'FREQ=MONTHLY;BYDAY=1SU',
      'FREQ=MONTHLY;BYMONTHDAY=-1',
      'FREQ=MONTHLY;COUNT=1',
      'FREQ=WEEKLY;COUNT=2',
      'FREQ=YEARLY;BYMONTH=3',
      'FREQ=DAILY;INTERVAL=7',
      'FREQ=WEEKLY;UNTIL=20261101T000000Z'
    ]
    const times = ['00:30', '02:30', '19:00', '23:59']
    const zones = [PARIS, NEW_YORK, 'Pacific/Auckland', 'Australia/Lord_Howe', 'Asia/Kolkata', 'UTC']
    // Two days around each 2026 change (US, EU, New Zealand both ways, Lord Howe's half hour), and two quiet days.
    const days = [
      '2026-03-07',
      '2026-03-28',
      '2026-04-04',
      '2026-09-26',
      '2026-10-03',
      '2026-10-24',
      '2026-10-31',
      '2026-06-15',
      '2026-12-31'
    ]
    const mismatches: string[] = []
    let compared = 0
    for (const rrule of rules) {
      for (const time of times) {
        for (const tz of zones) {
          for (const day of days) {
            for (let minute = 0; minute < 2 * 24 * 60; minute += 97) {
              const at = new Date(Date.parse(`${day}T00:00:00Z`) + minute * 60_000)
              const expected = nextOccurrence({ rrule, time }, tz, at, at)?.toISOString() ?? null
              const got = firstReviewAfter({ rrule, time }, tz, at)?.toISOString() ?? null
              compared++
              if (got !== expected)
                mismatches.push(
                  `${rrule} at ${time} in ${tz}, activated ${at.toISOString()}: ${got} instead of ${expected}`
                )
            }
          }
        }
      }
    }
    t.same(mismatches.slice(0, 20), [], `${compared} activations compared`)
    t.ok(compared > 50_000)
  }
)
