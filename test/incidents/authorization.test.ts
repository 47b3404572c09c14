import { randomBytes, randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { incidentKit, incidentTerms } from '../helpers/incidents.ts'
import { isInvalid, isProblem, problemOf, problemShape } from '../helpers/problems.ts'

// Class: who may call each incident and appreciation route (SPEC §1.3, §3.7, §4.1): strangers and members who left
// learn nothing (404, as for ids that do not exist), observers read but never write, scoped tokens need
// `incidents:write` to write and `agreements:read` to read, and no refused call changes anything.

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const i = incidentKit(ctx, k)

/**
 * Alice and Bob (partners), Olga (an observer), Dave (a partner who left, whose token is still valid) and Eve
 * (a stranger). Agreement A is active; incident R (Alice about Bob) is reported, incident Q (Alice about Bob) is
 * acknowledged, and Alice noted appreciation P.
 */
async function arrange() {
  const tag = randomBytes(4).toString('hex')
  const [alice, bob, olga, dave, eve] = await Promise.all([
    k.person('Alice'),
    k.person('Bob'),
    k.person('Olga'),
    k.person('Dave'),
    k.person('Eve')
  ])
  const { pid, name } = await k.partnership(alice, [bob])
  await k.join(dave, pid, 'partner', alice)
  await k.leave(dave, pid)
  await k.join(olga, pid, 'observer', alice, [alice, bob])
  const clauseText = `A clause only members may read ${tag}`
  const aid = await k.activeAgreement(
    alice,
    [bob],
    pid,
    incidentTerms({
      clauses: [{ key: 'secret-clause', text: clauseText, consequences: [`A secret consequence ${tag}`] }]
    })
  )
  ctx.clock.advance(1000)
  const description = `A secret description ${tag}`
  const ackNote = `A secret apology ${tag}`
  const appreciationText = `A secret appreciation ${tag}`
  const body = { clauseKey: 'secret-clause', description }
  const reported = await i.reported(alice, pid, aid, i.reportBody(bob, body))
  const answered = await i.reported(alice, pid, aid, i.reportBody(bob, body))
  k.expectStatus(await i.acknowledge(bob, pid, aid, answered.id, { note: ackNote }), 200, 'acknowledge')
  const apid: string = k
    .expectStatus(await i.appreciate(alice, pid, aid, { text: appreciationText }), 201, 'appreciate')
    .json().id
  return {
    pid,
    aid,
    reported: reported.id as string,
    answered: answered.id as string,
    apid,
    people: { alice, bob, olga, dave, eve },
    /** Nothing of this may reach a caller who is refused. */
    secrets: [
      pid,
      aid,
      reported.id,
      answered.id,
      apid,
      name,
      clauseText,
      description,
      ackNote,
      appreciationText,
      tag,
      alice.id,
      bob.id,
      olga.id,
      dave.id
    ]
  }
}
type Fixture = Awaited<ReturnType<typeof arrange>>

/** The ids a route's URL is made of; the matrix swaps them for unknown or malformed ones. */
interface Ids {
  pid: string
  aid: string
  /** The incident or appreciation the route addresses, if any. */
  id: string
}

interface Route {
  name: string
  method: 'GET' | 'POST'
  /** What `id` addresses: nothing, the reported incident R, the acknowledged incident Q, or the appreciation P. */
  target: 'agreement' | 'R' | 'Q' | 'P'
  url: (ids: Ids) => string
  write: boolean
  body?: (f: Fixture) => unknown
  /** The partner whose call succeeds, and with what status. */
  ok: { as: 'alice' | 'bob'; status: number }
}

const inc = (ids: Ids) => `/v1/partnerships/${ids.pid}/agreements/${ids.aid}/incidents`
const apr = (ids: Ids) => `/v1/partnerships/${ids.pid}/agreements/${ids.aid}/appreciations`

const routes: Route[] = [
  {
    name: 'POST …/incidents',
    method: 'POST',
    target: 'agreement',
    url: inc,
    write: true,
    body: (f) => i.reportBody(f.people.bob, { clauseKey: 'secret-clause' }),
    ok: { as: 'alice', status: 201 }
  },
  {
    name: 'GET …/incidents',
    method: 'GET',
    target: 'agreement',
    url: inc,
    write: false,
    ok: { as: 'alice', status: 200 }
  },
  {
    name: 'GET …/incidents/{iid}',
    method: 'GET',
    target: 'R',
    url: (ids) => `${inc(ids)}/${ids.id}`,
    write: false,
    ok: { as: 'alice', status: 200 }
  },
  {
    name: 'POST …/incidents/{iid}/acknowledge',
    method: 'POST',
    target: 'R',
    url: (ids) => `${inc(ids)}/${ids.id}/acknowledge`,
    write: true,
    body: () => ({ note: 'Sorry.' }),
    ok: { as: 'bob', status: 200 }
  },
  {
    name: 'POST …/incidents/{iid}/dispute',
    method: 'POST',
    target: 'R',
    url: (ids) => `${inc(ids)}/${ids.id}/dispute`,
    write: true,
    body: () => ({ note: 'Not so.' }),
    ok: { as: 'bob', status: 200 }
  },
  {
    name: 'POST …/incidents/{iid}/resolve',
    method: 'POST',
    target: 'Q',
    url: (ids) => `${inc(ids)}/${ids.id}/resolve`,
    write: true,
    body: () => ({ consequenceIndex: 0, note: 'Done.' }),
    ok: { as: 'alice', status: 200 }
  },
  {
    name: 'POST …/appreciations',
    method: 'POST',
    target: 'agreement',
    url: apr,
    write: true,
    body: () => ({ text: 'Thank you.' }),
    ok: { as: 'alice', status: 201 }
  },
  {
    name: 'GET …/appreciations',
    method: 'GET',
    target: 'agreement',
    url: apr,
    write: false,
    ok: { as: 'alice', status: 200 }
  },
  {
    name: 'GET …/appreciations/{apid}',
    method: 'GET',
    target: 'P',
    url: (ids) => `${apr(ids)}/${ids.id}`,
    write: false,
    ok: { as: 'alice', status: 200 }
  }
]

const idsOf = (route: Route, f: Fixture): Ids => ({
  pid: f.pid,
  aid: f.aid,
  id: { agreement: '', R: f.reported, Q: f.answered, P: f.apid }[route.target]
})

function send(
  route: Route,
  f: Fixture,
  token: string | undefined,
  ids: Ids = idsOf(route, f)
): Promise<LightMyRequestResponse> {
  const body = route.body?.(f)
  return ctx.request({ method: route.method, url: route.url(ids), token, ...(body === undefined ? {} : { body }) })
}

function assertNothingLeaks(t: Test, res: LightMyRequestResponse, f: Fixture, cell: string): void {
  const body = JSON.stringify(problemShape(res))
  const leaked = f.secrets.filter((s) => body.includes(s))
  t.same(leaked, [], `${cell}: the ${res.statusCode} body holds no partnership data`)
  t.equal(
    (problemOf(res) as Record<string, unknown>).instance,
    res.raw.req.url?.split('?')[0],
    `${cell}: instance only echoes the path asked for`
  )
  t.notOk(res.headers.location, `${cell}: no Location on a ${res.statusCode}`)
}

const state = (f: Fixture): Promise<unknown> => i.state(f.people.alice, f.pid, f.aid)

t.test('the authorization matrix: every incident and appreciation route × every kind of caller', async (t) => {
  const f = await arrange()
  const { alice, olga, dave, eve } = f.people
  const before = await state(f)
  const readOnly = await k.scoped(alice, 'agreements:read')
  const incidentsOnly = await k.scoped(alice, 'incidents:write')
  const agreementsWrite = await k.scoped(alice, 'agreements:write agreements:read')
  const partnershipsOnly = await k.scoped(alice, 'partnerships:read partnerships:write')

  for (const route of routes) {
    t.test(route.name, async (t) => {
      const anonymous = await send(route, f, undefined)
      isProblem(t, anonymous, 401, 'token-required', 'anonymous')
      t.match(anonymous.headers['www-authenticate'], /^Bearer\b/, 'anonymous: a Bearer challenge')
      assertNothingLeaks(t, anonymous, f, 'anonymous')
      const forged = await send(
        route,
        f,
        `${randomBytes(24).toString('base64url')}.${randomBytes(24).toString('base64url')}.x`
      )
      isProblem(t, forged, 401, 'token-invalid', 'a forged token')
      assertNothingLeaks(t, forged, f, 'a forged token')

      // A stranger and a member who left learn nothing: the same 404 as for ids that do not exist.
      const unknownPartnership = await send(route, f, eve.token, { ...idsOf(route, f), pid: randomUUID() })
      isProblem(t, unknownPartnership, 404, 'not-found', 'an unknown partnership')
      t.same(
        problemShape(await send(route, f, alice.token, { ...idsOf(route, f), pid: randomUUID() })),
        problemShape(unknownPartnership),
        'an unknown partnership is the same 404 for a member'
      )
      for (const [who, token] of [
        ['stranger', eve.token],
        ['member who left', dave.token]
      ] as const) {
        const variants: Array<[string, LightMyRequestResponse]> = [
          ['its partnership', await send(route, f, token)],
          ['an unknown agreement in it', await send(route, f, token, { ...idsOf(route, f), aid: randomUUID() })]
        ]
        if (route.target !== 'agreement')
          variants.push(['an unknown id in it', await send(route, f, token, { ...idsOf(route, f), id: randomUUID() })])
        for (const [what, res] of variants) {
          isProblem(t, res, 404, 'not-found', `${who}, ${what}`)
          t.same(
            problemShape(res),
            problemShape(unknownPartnership),
            `${who}, ${what}: identical to an unknown partnership`
          )
          assertNothingLeaks(t, res, f, `${who}, ${what}`)
        }
      }

      // The observer reads but does not write.
      const observed = await send(route, f, olga.token)
      if (route.write) {
        isProblem(t, observed, 403, 'observer-read-only', 'observer')
        assertNothingLeaks(t, observed, f, 'observer')
      } else t.equal(observed.statusCode, 200, `observer: 200 (${observed.body.slice(0, 200)})`)

      // Scopes: writes need incidents:write, reads agreements:read; no other scope will do.
      const scopedCalls: Array<[string, string, boolean]> = [
        ['agreements:read', readOnly, !route.write],
        ['incidents:write', incidentsOnly, route.write],
        ['agreements:write agreements:read', agreementsWrite, !route.write],
        ['partnerships:read partnerships:write', partnershipsOnly, false]
      ]
      for (const [scope, token, allowed] of scopedCalls) {
        if (allowed && route.write) continue // a successful write changes the fixture: see the next test
        const res = await send(route, f, token)
        if (allowed) {
          t.equal(res.statusCode, route.ok.status, `a token with ${scope}: ${route.ok.status}`)
          continue
        }
        isProblem(t, res, 403, 'insufficient-scope', `a token with only ${scope}`)
        t.match(res.headers['www-authenticate'], /insufficient_scope/, `${scope}: the challenge names the error`)
        t.match(
          res.headers['www-authenticate'],
          route.write ? /scope="incidents:write"/ : /scope="agreements:read"/,
          `${scope}: and the scope needed`
        )
        assertNothingLeaks(t, res, f, `a token with only ${scope}`)
      }
    })
  }

  t.test('no refused call changed anything', async (t) => {
    t.same(await state(f), before)
  })
})

t.test('a partner whose token carries exactly incidents:write succeeds on every write route', async (t) => {
  for (const route of routes.filter((r) => r.write)) {
    t.test(route.name, async (t) => {
      const f = await arrange()
      const token = await k.scoped(f.people[route.ok.as], 'incidents:write')
      const res = await send(route, f, token)
      t.equal(res.statusCode, route.ok.status, res.body.slice(0, 300))
    })
  }
})

t.test('unknown and malformed ids', async (t) => {
  const f = await arrange()
  const { alice, bob } = f.people
  const before = await state(f)
  for (const route of routes) {
    t.test(route.name, async (t) => {
      const ids = idsOf(route, f)
      const token = route.ok.as === 'bob' ? bob.token : alice.token
      isProblem(t, await send(route, f, token, { ...ids, pid: randomUUID() }), 404, 'not-found', 'unknown partnership')
      isInvalid(t, await send(route, f, token, { ...ids, pid: 'not-a-uuid' }), '/pid', 'a malformed partnership id')
      const unknown = await send(route, f, token, { ...ids, aid: randomUUID() })
      isProblem(t, unknown, 404, 'not-found', 'an unknown agreement')
      t.equal(problemOf(unknown).detail, 'no such agreement')
      isInvalid(t, await send(route, f, token, { ...ids, aid: 'not-a-uuid' }), '/aid', 'a malformed agreement id')
      if (route.target === 'agreement') return
      const missing = await send(route, f, token, { ...ids, id: randomUUID() })
      isProblem(t, missing, 404, 'not-found', 'an unknown id')
      t.equal(problemOf(missing).detail, route.target === 'P' ? 'no such appreciation' : 'no such incident')
      isInvalid(
        t,
        await send(route, f, token, { ...ids, id: 'not-a-uuid' }),
        route.target === 'P' ? '/apid' : '/iid',
        'a malformed id'
      )
    })
  }
  t.test('nothing changed', async (t) => {
    t.same(await state(f), before)
  })
})
