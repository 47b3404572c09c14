import { randomBytes, randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { agreementKit, content } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isInvalid, isProblem, problemOf, problemShape } from '../helpers/problems.ts'

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)

/**
 * One partnership with every kind of caller: Alice and Bob (partners), Olga (an
 * observer), Dave (a partner who left, whose token is still valid) and Eve (a
 * stranger). Agreement A has version 1 active and version 2 (Alice's) open;
 * agreement D is only Alice's draft (version 1).
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
  const titleA = `Secret agreement ${tag}`
  const titleD = `Secret draft ${tag}`
  const terms = (title: string) =>
    content({
      title,
      clauses: [{ key: 'secret-clause', text: clauseText, consequences: [`A secret consequence ${tag}`] }]
    })
  const aid = await k.activeAgreement(alice, [bob], pid, terms(titleA))
  const v2 = await k.proposeVersion(alice, pid, aid, { basedOn: 1, content: terms(`${titleA} (revised)`) })
  if (v2.statusCode !== 201) throw new Error(`propose v2: ${v2.statusCode} ${v2.body}`)
  const did: string = (await k.create(alice, pid, { content: terms(titleD), draft: true })).id
  const a = await k.agreement(alice, pid, aid)
  const draft = await k.version(alice, pid, did, 1)
  const v1 = await k.version(alice, pid, aid, 1)
  return {
    pid,
    aid,
    did,
    people: { alice, bob, olga, dave, eve },
    agreementEtag: a.etag,
    draftEtag: draft.etag,
    v2Hash: v2.json().contentHash as string,
    /** Nothing of this may reach a caller who is refused. */
    secrets: [
      pid,
      aid,
      did,
      name,
      titleA,
      titleD,
      clauseText,
      tag,
      alice.id,
      bob.id,
      olga.id,
      dave.id,
      v1.body.contentHash,
      v2.json().contentHash,
      draft.body.contentHash
    ]
  }
}
type Fixture = Awaited<ReturnType<typeof arrange>>

/** The ids a route's URL is made of; the matrix swaps them for unknown or malformed ones. */
interface Ids {
  pid: string
  aid: string
  n: string | number
}

interface Route {
  name: string
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  /** Which resource of the fixture it addresses: the partnership, agreement A (its open version 2), or draft D (version 1). */
  target: 'partnership' | 'A' | 'D'
  url: (ids: Ids) => string
  write: boolean
  body?: (f: Fixture) => unknown
  headers?: (f: Fixture) => Record<string, string>
  /** The partner whose call succeeds, and with what status. */
  ok: { as: 'alice' | 'bob'; status: number }
}

const p = (ids: Ids) => `/v1/partnerships/${ids.pid}/agreements`
const a = (ids: Ids) => `${p(ids)}/${ids.aid}`
const v = (ids: Ids) => `${a(ids)}/versions/${ids.n}`

const routes: Route[] = [
  {
    name: 'POST …/agreements',
    method: 'POST',
    target: 'partnership',
    url: p,
    write: true,
    body: () => ({ content: content({ title: 'Another' }) }),
    ok: { as: 'alice', status: 201 }
  },
  {
    name: 'GET …/agreements',
    method: 'GET',
    target: 'partnership',
    url: p,
    write: false,
    ok: { as: 'alice', status: 200 }
  },
  {
    name: 'GET …/agreements/{aid}',
    method: 'GET',
    target: 'A',
    url: a,
    write: false,
    ok: { as: 'alice', status: 200 }
  },
  {
    name: 'GET …/agreements/{aid}/certificate',
    method: 'GET',
    target: 'A',
    url: (ids) => `${a(ids)}/certificate`,
    write: false,
    ok: { as: 'alice', status: 200 }
  },
  {
    name: 'GET …/versions',
    method: 'GET',
    target: 'A',
    url: (ids) => `${a(ids)}/versions`,
    write: false,
    ok: { as: 'alice', status: 200 }
  },
  {
    name: 'POST …/versions',
    method: 'POST',
    target: 'A',
    url: (ids) => `${a(ids)}/versions`,
    write: true,
    body: () => ({ basedOn: 2, counterTo: 2, content: content({ title: 'Counter' }) }),
    headers: (f) => ({ 'if-match': f.agreementEtag }),
    ok: { as: 'bob', status: 201 }
  },
  { name: 'GET …/versions/{n}', method: 'GET', target: 'A', url: v, write: false, ok: { as: 'alice', status: 200 } },
  {
    name: 'PATCH …/versions/{n}',
    method: 'PATCH',
    target: 'D',
    url: v,
    write: true,
    body: () => ({ content: content({ title: 'Edited' }) }),
    headers: (f) => ({ 'if-match': f.draftEtag }),
    ok: { as: 'alice', status: 200 }
  },
  {
    name: 'DELETE …/versions/{n}',
    method: 'DELETE',
    target: 'D',
    url: v,
    write: true,
    ok: { as: 'alice', status: 204 }
  },
  {
    name: 'POST …/versions/{n}/propose',
    method: 'POST',
    target: 'D',
    url: (ids) => `${v(ids)}/propose`,
    write: true,
    ok: { as: 'alice', status: 200 }
  },
  {
    name: 'GET …/versions/{n}/diff',
    method: 'GET',
    target: 'A',
    url: (ids) => `${v(ids)}/diff?against=1`,
    write: false,
    ok: { as: 'alice', status: 200 }
  },
  {
    name: 'POST …/versions/{n}/signatures',
    method: 'POST',
    target: 'A',
    url: (ids) => `${v(ids)}/signatures`,
    write: true,
    body: (f) => ({ contentHash: f.v2Hash }),
    ok: { as: 'bob', status: 201 }
  },
  {
    name: 'GET …/versions/{n}/signatures',
    method: 'GET',
    target: 'A',
    url: (ids) => `${v(ids)}/signatures`,
    write: false,
    ok: { as: 'alice', status: 200 }
  },
  {
    name: 'DELETE …/versions/{n}/signatures/me',
    method: 'DELETE',
    target: 'A',
    url: (ids) => `${v(ids)}/signatures/me`,
    write: true,
    ok: { as: 'alice', status: 204 }
  },
  {
    name: 'POST …/versions/{n}/decline',
    method: 'POST',
    target: 'A',
    url: (ids) => `${v(ids)}/decline`,
    write: true,
    body: () => ({ reason: 'Not like this.' }),
    ok: { as: 'bob', status: 200 }
  },
  {
    name: 'POST …/versions/{n}/withdraw',
    method: 'POST',
    target: 'A',
    url: (ids) => `${v(ids)}/withdraw`,
    write: true,
    ok: { as: 'alice', status: 200 }
  }
]

const idsOf = (route: Route, f: Fixture): Ids =>
  route.target === 'D' ? { pid: f.pid, aid: f.did, n: 1 } : { pid: f.pid, aid: f.aid, n: 2 }

function send(
  route: Route,
  f: Fixture,
  token: string | undefined,
  ids: Ids = idsOf(route, f),
  options: { preconditions?: boolean } = {}
): Promise<LightMyRequestResponse> {
  const body = route.body?.(f)
  const headers = options.preconditions === false ? {} : (route.headers?.(f) ?? {})
  return ctx.request({
    method: route.method,
    url: route.url(ids),
    token,
    headers,
    ...(body === undefined ? {} : { body })
  })
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
  t.notOk(res.headers.etag, `${cell}: no ETag on a ${res.statusCode}`)
  t.notOk(res.headers.location, `${cell}: no Location on a ${res.statusCode}`)
}

/** What a failed request must leave unchanged: both agreements, the list and the audit log. */
async function state(f: Fixture): Promise<unknown> {
  const { alice } = f.people
  return {
    a: await k.snapshot(alice, f.pid, f.aid),
    d: await k.snapshot(alice, f.pid, f.did),
    list: (
      await ctx.request({ method: 'GET', url: `/v1/partnerships/${f.pid}/agreements?limit=100`, token: alice.token })
    ).json()
  }
}

t.test('the authorization matrix: every agreement route × every kind of caller', async (t) => {
  const f = await arrange()
  const { alice, olga, dave, eve } = f.people
  const before = await state(f)
  const readOnly = await k.scoped(alice, 'agreements:read')
  const writeOnly = await k.scoped(alice, 'agreements:write')
  const partnershipsOnly = await k.scoped(alice, 'partnerships:read')

  for (const route of routes) {
    t.test(route.name, async (t) => {
      // Anonymous, or a token that is not one.
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
      for (const [who, token] of [
        ['stranger', eve.token],
        ['member who left', dave.token],
        ['a member asking for an unknown partnership', alice.token]
      ] as const) {
        const unknownPartnership = await send(route, f, token, { ...idsOf(route, f), pid: randomUUID() })
        isProblem(t, unknownPartnership, 404, 'not-found', `${who}, unknown partnership`)
        assertNothingLeaks(t, unknownPartnership, f, `${who}, unknown partnership`)
        if (who === 'a member asking for an unknown partnership') {
          t.same(
            problemShape(unknownPartnership),
            problemShape(await send(route, f, eve.token, { ...idsOf(route, f), pid: randomUUID() })),
            'an unknown partnership is the same 404 for everyone'
          )
          continue
        }
        const variants: Array<[string, LightMyRequestResponse]> = [['its partnership', await send(route, f, token)]]
        if (route.target !== 'partnership')
          variants.push([
            'an unknown agreement in it',
            await send(route, f, token, { ...idsOf(route, f), aid: randomUUID() })
          ])
        if (route.headers)
          variants.push(['without If-Match', await send(route, f, token, idsOf(route, f), { preconditions: false })])
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
      } else {
        t.equal(observed.statusCode, 200, `observer: 200 (${observed.body.slice(0, 200)})`)
      }

      // Scopes: a token carrying scopes needs this route's.
      const scopedCalls: Array<[string, string, boolean]> = [
        ['agreements:read', readOnly, !route.write],
        ['agreements:write', writeOnly, route.write],
        ['partnerships:read', partnershipsOnly, false]
      ]
      for (const [scope, token, allowed] of scopedCalls) {
        if (allowed && route.write) continue // a successful write changes the fixture: see the next test
        const res = await send(route, f, token)
        if (allowed) {
          t.equal(
            res.statusCode,
            route.ok.status,
            `a token with ${scope}: ${route.ok.status} (${res.body.slice(0, 200)})`
          )
        } else {
          isProblem(t, res, 403, 'insufficient-scope', `a token with only ${scope}`)
          t.match(
            res.headers['www-authenticate'],
            /insufficient_scope/,
            `a token with only ${scope}: the challenge names the error`
          )
          t.match(
            res.headers['www-authenticate'],
            route.write ? /scope="agreements:write"/ : /scope="agreements:read"/,
            'and the scope needed'
          )
          assertNothingLeaks(t, res, f, `a token with only ${scope}`)
        }
      }
    })
  }

  t.test('no refused call changed anything', async (t) => {
    t.same(await state(f), before)
  })
})

t.test('a partner whose token carries exactly agreements:write succeeds on every write route', async (t) => {
  for (const route of routes.filter((r) => r.write)) {
    t.test(route.name, async (t) => {
      const f = await arrange()
      const token = await k.scoped(f.people[route.ok.as], 'agreements:write')
      const res = await send(route, f, token)
      t.equal(res.statusCode, route.ok.status, res.body.slice(0, 300))
    })
  }
})

t.test('unknown and malformed ids', async (t) => {
  const f = await arrange()
  const { alice } = f.people
  const before = await state(f)
  for (const route of routes) {
    t.test(route.name, async (t) => {
      const ids = idsOf(route, f)
      isProblem(
        t,
        await send(route, f, alice.token, { ...ids, pid: randomUUID() }),
        404,
        'not-found',
        'an unknown partnership'
      )
      const malformedPid = await send(route, f, alice.token, { ...ids, pid: 'not-a-uuid' })
      isProblem(t, malformedPid, 400, 'validation-failed', 'a malformed partnership id')
      if (route.target === 'partnership') return
      const unknown = await send(route, f, alice.token, { ...ids, aid: randomUUID() })
      isProblem(t, unknown, 404, 'not-found', 'an unknown agreement')
      t.equal(problemOf(unknown).detail, 'no such agreement')
      isProblem(
        t,
        await send(route, f, alice.token, { ...ids, aid: 'not-a-uuid' }),
        400,
        'validation-failed',
        'a malformed agreement id'
      )
      if (!route.url(ids).includes('/versions/')) return
      const missing = await send(route, f, alice.token, { ...ids, n: 99 })
      isProblem(t, missing, 404, 'not-found', 'an unknown version number')
      t.equal(problemOf(missing).detail, 'no such version')
      for (const n of [0, -1, 'abc', 1.5])
        isInvalid(t, await send(route, f, alice.token, { ...ids, n }), '/n', `version number ${n}`)
    })
  }
  t.test('diff against an unknown or malformed version', async (t) => {
    const url = `/v1/partnerships/${f.pid}/agreements/${f.aid}/versions/2/diff`
    for (const against of ['99', '0', 'abc', '']) {
      isInvalid(
        t,
        await ctx.request({ method: 'GET', url: `${url}?against=${against}`, token: alice.token }),
        '/against',
        `against=${against}`
      )
    }
    isProblem(t, await ctx.request({ method: 'GET', url, token: alice.token }), 400, 'validation-failed', 'no against')
  })
  t.test('nothing changed', async (t) => {
    t.same(await state(f), before)
  })
})
