import { randomBytes, randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { agreementKit, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem, problemShape } from '../helpers/problems.ts'

/** A sub-test, as tap hands it to a callback. */
type Test = Parameters<Parameters<typeof t.test>[0]>[0]

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)

/** The log's length and head, as verify reports them. */
const eventCount = async (by: Person, pid: string): Promise<{ eventCount: number; head: unknown }> => {
  const { eventCount, head } = await k.verify(by, pid)
  return { eventCount, head }
}

/**
 * One partnership with every kind of caller: Alice and Bob (partners), Carol (an
 * observer), Dave (a partner who left, whose token is still valid) and Eve (a
 * stranger); a pending observer invitation and a pending partner invitation.
 */
async function arrange() {
  const tag = randomBytes(4).toString('hex')
  const [alice, bob, carol, dave, eve] = await Promise.all([
    k.person('Alice'),
    k.person('Bob'),
    k.person('Carol'),
    k.person('Dave'),
    k.person('Eve')
  ])
  const { pid, name, url: base } = await k.partnership(alice, [bob], [], { name: `Secret garden ${tag}` })
  const daveInvitation = await k.invite(alice, pid, 'partner')
  await k.accept(dave, daveInvitation.token)
  await k.leave(dave, pid)
  const carolInvitation = await k.invite(alice, pid, 'observer')
  for (const partner of [alice, bob]) await k.approve(partner, pid, carolInvitation.id)
  await k.accept(carol, carolInvitation.token)
  const pendingObserver = await k.invite(alice, pid, 'observer')
  const pendingPartner = await k.invite(alice, pid, 'partner')
  const etag = (await ctx.request({ method: 'GET', url: base, token: alice.token })).headers.etag as string
  const checkpoint = (await ctx.request({ method: 'GET', url: `${base}/audit/checkpoint`, token: alice.token })).json()
    .checkpoint as string
  const ids = { alice: alice.id, bob: bob.id, carol: carol.id, dave: dave.id }
  return {
    pid,
    base,
    name,
    etag,
    checkpoint,
    iid: pendingObserver.id,
    pendingPartner,
    usedToken: daveInvitation.token,
    people: { alice, bob, carol, dave, eve },
    ids,
    /** Nothing of this may reach a caller who is refused. */
    secrets: [
      name,
      pid,
      ids.alice,
      ids.bob,
      ids.carol,
      ids.dave,
      pendingObserver.id,
      pendingPartner.id,
      pendingPartner.token,
      daveInvitation.id,
      carolInvitation.id
    ]
  }
}
type Fixture = Awaited<ReturnType<typeof arrange>>

const CALLERS = [
  'anonymous',
  'token without the scope',
  'stranger',
  'member who left',
  'observer',
  'partner with exactly the scope'
] as const
type Caller = (typeof CALLERS)[number]

/** What a cell expects: a problem, the non-member 404 (identical to an unknown partnership's), or a success. */
type Expect =
  | { problem: number; code: string }
  | { hidden: true }
  | { status: number; check?: (t: Test, res: LightMyRequestResponse, f: Fixture, caller: Caller) => void }

interface Route {
  name: string
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  url: (f: Fixture, pid?: string) => string
  scope: string
  /** `read` and `write` routes live under a partnership; the others do not. */
  kind: 'read' | 'write' | 'leave' | 'create' | 'list' | 'accept'
  ok: number
  body?: (f: Fixture, caller: Caller) => unknown
  headers?: (f: Fixture) => Record<string, string>
}

const under =
  (suffix: string) =>
  (f: Fixture, pid = f.pid) =>
    `/v1/partnerships/${pid}${suffix}`
const underInvitation =
  (suffix: string) =>
  (f: Fixture, pid = f.pid) =>
    `/v1/partnerships/${pid}/invitations/${f.iid}${suffix}`

const routes: Route[] = [
  {
    name: 'POST /v1/partnerships',
    method: 'POST',
    url: () => '/v1/partnerships',
    body: () => ({ name: 'Another one', timezone: 'Europe/Paris' }),
    scope: 'partnerships:write',
    kind: 'create',
    ok: 201
  },
  {
    name: 'GET /v1/partnerships',
    method: 'GET',
    url: () => '/v1/partnerships?limit=100',
    scope: 'partnerships:read',
    kind: 'list',
    ok: 200
  },
  {
    // Lists the caller's partnerships too, with all they hold: the same rule as GET /v1/partnerships.
    name: 'GET /v1/me/export',
    method: 'GET',
    url: () => '/v1/me/export',
    scope: 'profile:write',
    kind: 'list',
    ok: 200
  },
  {
    name: 'GET /v1/partnerships/{pid}',
    method: 'GET',
    url: under(''),
    scope: 'partnerships:read',
    kind: 'read',
    ok: 200
  },
  {
    name: 'PATCH /v1/partnerships/{pid}',
    method: 'PATCH',
    url: under(''),
    body: () => ({ name: 'Renamed' }),
    headers: (f) => ({ 'if-match': f.etag }),
    scope: 'partnerships:write',
    kind: 'write',
    ok: 200
  },
  {
    name: 'GET /v1/partnerships/{pid}/members',
    method: 'GET',
    url: under('/members'),
    scope: 'partnerships:read',
    kind: 'read',
    ok: 200
  },
  {
    name: 'DELETE /v1/partnerships/{pid}/members/me',
    method: 'DELETE',
    url: under('/members/me'),
    scope: 'partnerships:write',
    kind: 'leave',
    ok: 204
  },
  {
    name: 'POST /v1/partnerships/{pid}/invitations',
    method: 'POST',
    url: under('/invitations'),
    body: () => ({ role: 'partner' }),
    scope: 'partnerships:write',
    kind: 'write',
    ok: 201
  },
  {
    name: 'GET /v1/partnerships/{pid}/invitations',
    method: 'GET',
    url: under('/invitations'),
    scope: 'partnerships:read',
    kind: 'read',
    ok: 200
  },
  {
    name: 'GET /v1/partnerships/{pid}/invitations/{iid}',
    method: 'GET',
    url: underInvitation(''),
    scope: 'partnerships:read',
    kind: 'read',
    ok: 200
  },
  {
    name: 'DELETE /v1/partnerships/{pid}/invitations/{iid}',
    method: 'DELETE',
    url: underInvitation(''),
    scope: 'partnerships:write',
    kind: 'write',
    ok: 204
  },
  {
    name: 'POST /v1/partnerships/{pid}/invitations/{iid}/approvals',
    method: 'POST',
    url: underInvitation('/approvals'),
    scope: 'partnerships:write',
    kind: 'write',
    ok: 201
  },
  {
    name: 'POST /v1/invitations/accept',
    method: 'POST',
    url: () => '/v1/invitations/accept',
    // A stranger holds a token nobody issued; the member who left holds the one he already used.
    body: (f, caller) => ({
      token:
        caller === 'stranger'
          ? `acc_inv_${randomBytes(32).toString('base64url')}`
          : caller === 'member who left'
            ? f.usedToken
            : f.pendingPartner.token
    }),
    scope: 'partnerships:write',
    kind: 'accept',
    ok: 201
  },
  {
    name: 'GET /v1/partnerships/{pid}/events',
    method: 'GET',
    url: under('/events'),
    scope: 'audit:read',
    kind: 'read',
    ok: 200
  },
  {
    name: 'GET /v1/partnerships/{pid}/audit/verify',
    method: 'GET',
    url: under('/audit/verify'),
    scope: 'audit:read',
    kind: 'read',
    ok: 200
  },
  {
    name: 'GET /v1/partnerships/{pid}/audit/checkpoint',
    method: 'GET',
    url: under('/audit/checkpoint'),
    scope: 'audit:read',
    kind: 'read',
    ok: 200
  },
  {
    name: 'POST /v1/partnerships/{pid}/audit/verify',
    method: 'POST',
    url: under('/audit/verify'),
    body: (f) => ({ checkpoints: [f.checkpoint] }),
    scope: 'audit:read',
    kind: 'read',
    ok: 200
  }
]

const listed = (present: boolean) => (t: Test, res: LightMyRequestResponse, f: Fixture, caller: Caller) => {
  const body = res.json()
  const ids = (body.items ?? body.partnerships).map((p: { id: string }) => p.id)
  t.equal(
    ids.includes(f.pid),
    present,
    present ? 'the list shows the partnership' : 'the list does not show the partnership'
  )
  // The caller's own id may appear (in partnerships of their own); nothing else of this one may.
  const own = caller === 'member who left' ? f.ids.dave : null
  if (!present)
    for (const s of f.secrets) if (s !== own) t.notOk(res.body.includes(s), 'the list leaks nothing of the partnership')
}

function expectationOf(route: Route, caller: Caller): Expect | null {
  if (caller === 'anonymous') return { problem: 401, code: 'token-required' }
  if (caller === 'token without the scope') return { problem: 403, code: 'insufficient-scope' }
  if (caller === 'partner with exactly the scope') return { status: route.ok }
  switch (route.kind) {
    case 'create':
      return caller === 'observer' ? null : { status: 201 }
    case 'list':
      return { status: 200, check: listed(caller === 'observer') }
    case 'accept':
      if (caller === 'stranger') return { problem: 404, code: 'not-found' }
      if (caller === 'member who left') return { problem: 410, code: 'invitation-used' }
      return null
    case 'leave':
      return caller === 'observer' ? { status: 204 } : { hidden: true }
    case 'read':
      return caller === 'observer' ? { status: 200 } : { hidden: true }
    case 'write':
      return caller === 'observer' ? { problem: 403, code: 'observer-read-only' } : { hidden: true }
  }
}

async function tokenOf(f: Fixture, route: Route, caller: Caller): Promise<string | undefined> {
  switch (caller) {
    case 'anonymous':
      return undefined
    // A current partner: only the scope is missing.
    case 'token without the scope':
      return k.scoped(f.people.alice, 'agreements:read')
    case 'stranger':
      return f.people.eve.token
    case 'member who left':
      return f.people.dave.token
    case 'observer':
      return f.people.carol.token
    // Accepting: someone new, who may join; otherwise Alice, a partner.
    case 'partner with exactly the scope':
      return route.kind === 'accept'
        ? ctx.token(`frank-${randomUUID()}`, { name: 'Frank', scope: route.scope })
        : k.scoped(f.people.alice, route.scope)
  }
}

const send = (route: Route, f: Fixture, caller: Caller, token: string | undefined, pid?: string) => {
  const body = route.body?.(f, caller)
  return ctx.request({
    method: route.method,
    url: route.url(f, pid),
    token,
    headers: route.headers?.(f) ?? {},
    ...(body === undefined ? {} : { body })
  })
}

function assertNothingLeaks(t: Test, res: LightMyRequestResponse, f: Fixture): void {
  const body = JSON.stringify(problemShape(res))
  for (const s of f.secrets) t.notOk(body.includes(s), `the ${res.statusCode} body holds no partnership data`)
  t.notOk(res.headers.etag, `no ETag on a ${res.statusCode}`)
  t.notOk(res.headers.location, `no Location on a ${res.statusCode}`)
}

t.test('the authorization matrix: every route of partnerships and invitations, every kind of caller', async (t) => {
  for (const route of routes) {
    t.test(route.name, async (t) => {
      const f = await arrange()
      let before = await eventCount(f.people.alice, f.pid)
      for (const caller of CALLERS) {
        const expected = expectationOf(route, caller)
        if (expected === null) continue
        // The successful partner call changes things on purpose: check first that nobody else did.
        if (caller === 'partner with exactly the scope') {
          t.same(await eventCount(f.people.alice, f.pid), before, 'no refused caller appended an event')
        }
        const token = await tokenOf(f, route, caller)
        const res = await send(route, f, caller, token)
        const cell = `${caller}: ${route.name}`
        if ('hidden' in expected) {
          isProblem(t, res, 404, 'not-found', cell)
          const unknown = await send(route, f, caller, token, randomUUID())
          t.equal(unknown.statusCode, 404)
          t.same(
            problemShape(res),
            problemShape(unknown),
            `${cell}: the same answer as for a partnership that does not exist`
          )
          assertNothingLeaks(t, res, f)
        } else if ('problem' in expected) {
          isProblem(t, res, expected.problem, expected.code, cell)
          if (expected.problem === 401) t.match(res.headers['www-authenticate'], /^Bearer\b/, 'with a Bearer challenge')
          if (expected.code === 'insufficient-scope') t.match(res.headers['www-authenticate'], /insufficient_scope/)
          assertNothingLeaks(t, res, f)
        } else {
          t.equal(res.statusCode, expected.status, `${cell} is ${expected.status}`)
          expected.check?.(t, res, f, caller)
        }
        // A refused or read-only call appends nothing; only leaving (observer) and the partner's call may.
        if (caller === 'observer' && route.kind === 'leave') {
          const after = await eventCount(f.people.alice, f.pid)
          t.equal(after.eventCount, before.eventCount + 1, 'the observer left: one member.left event')
          before = after
        } else if (caller !== 'partner with exactly the scope') {
          t.same(await eventCount(f.people.alice, f.pid), before, `${cell} appended no event`)
        }
      }
    })
  }
})

t.test('tenancy comes before preconditions: a PATCH without If-Match from a non-member is 404, not 428', async (t) => {
  const f = await arrange()
  const before = await eventCount(f.people.alice, f.pid)
  const patch = (token: string, pid = f.pid) =>
    ctx.request({ method: 'PATCH', url: `/v1/partnerships/${pid}`, token, body: { name: 'Mine now' } })
  const unknown = await patch(f.people.eve.token, randomUUID())
  t.equal(unknown.statusCode, 404)
  for (const [who, token] of [
    ['stranger', f.people.eve.token],
    ['member who left', f.people.dave.token]
  ] as const) {
    const res = await patch(token)
    t.equal(res.statusCode, 404, `${who}: 404`)
    t.same(problemShape(res), problemShape(unknown), `${who}: same as an unknown partnership`)
    assertNothingLeaks(t, res, f)
  }
  isProblem(
    t,
    await patch(f.people.carol.token),
    403,
    'observer-read-only',
    'an observer learns about the role before the precondition'
  )
  isProblem(t, await patch(f.people.alice.token), 428, 'precondition-required', 'a partner is asked for If-Match')
  t.same(await eventCount(f.people.alice, f.pid), before)
  t.equal((await ctx.request({ method: 'GET', url: f.base, token: f.people.alice.token })).json().name, f.name)
})

t.test("a stranger's requests never append an event, whatever they try", async (t) => {
  const f = await arrange()
  const before = await eventCount(f.people.alice, f.pid)
  for (const route of routes) {
    if (route.kind === 'create' || route.kind === 'list' || route.kind === 'accept') continue
    for (const key of [undefined, randomUUID()]) {
      const body = route.body?.(f, 'stranger')
      const res = await ctx.request({
        method: route.method,
        url: route.url(f),
        token: f.people.eve.token,
        headers: { ...route.headers?.(f), ...(key && route.method === 'POST' ? { 'idempotency-key': key } : {}) },
        ...(body === undefined ? {} : { body })
      })
      t.equal(res.statusCode, 404, route.name)
    }
  }
  t.same(await eventCount(f.people.alice, f.pid), before, 'the chain is exactly as it was')
  const seen = (await ctx.request({ method: 'GET', url: f.base, token: f.people.alice.token })).json()
  t.equal(seen.name, f.name)
  t.equal(seen.members.length, 3, 'Alice, Bob and Carol, as before')
  const invitations = (
    await ctx.request({ method: 'GET', url: `${f.base}/invitations?limit=100`, token: f.people.alice.token })
  ).json().items
  t.equal(invitations.find((i: { id: string }) => i.id === f.iid).status, 'pending')
  t.same(invitations.find((i: { id: string }) => i.id === f.iid).approvals, [])
})

t.test('an invitation is reachable only under its own partnership', async (t) => {
  const f = await arrange()
  // Eve is a partner of her own partnership and knows the id of an invitation of Alice's.
  const own = await k.partnership(f.people.eve)
  const before = await eventCount(f.people.alice, f.pid)
  const unknownInvitation = await ctx.request({
    method: 'GET',
    url: `/v1/partnerships/${own.pid}/invitations/${randomUUID()}`,
    token: f.people.eve.token
  })
  t.equal(unknownInvitation.statusCode, 404)
  for (const [method, suffix] of [
    ['GET', ''],
    ['DELETE', ''],
    ['POST', '/approvals']
  ] as const) {
    const res = await ctx.request({
      method,
      url: `/v1/partnerships/${own.pid}/invitations/${f.iid}${suffix}`,
      token: f.people.eve.token
    })
    t.equal(res.statusCode, 404, `${method} …/invitations/{iid}${suffix}`)
    t.same(
      problemShape(res),
      problemShape(unknownInvitation),
      'the same answer as for an invitation that does not exist'
    )
  }
  t.same(await eventCount(f.people.alice, f.pid), before)
  t.equal(
    (await ctx.request({ method: 'GET', url: `${f.base}/invitations/${f.iid}`, token: f.people.alice.token })).json()
      .status,
    'pending'
  )
})
