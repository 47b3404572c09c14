import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import createClient, { type Client } from 'openapi-fetch'
import t from 'tap'
import type { components, paths } from '../../openapi/accord.d.ts'
import { buildTestApp } from '../helpers/app.ts'

// The typed client of SPEC §3.7 as a frontend uses it: openapi-fetch over the generated types, against a real
// server on a loopback port (fetch, not app.inject). This file is type-checked (`npm run typecheck`), so a route
// whose shape changes breaks it twice: test/openapi.test.ts fails until `npm run openapi`, then tsc fails here.

type Accord = Client<paths>
type Problem = components['schemas']['Problem']

/** What a client call answered, or a thrown error naming the call, its status and its problem. */
function answered<D>(what: string, result: { data?: D; error?: unknown; response: Response }, status: number): D {
  if (result.response.status !== status || result.data === undefined)
    throw new Error(`${what}: expected ${status}, got ${result.response.status} ${JSON.stringify(result.error)}`)
  return result.data
}

// One database and one listening server for the file (booting PGlite costs seconds); each test arranges its own people.
const ctx = await buildTestApp(t)
await ctx.app.listen({ port: 0, host: '127.0.0.1' })
const baseUrl = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
const anonymous = createClient<paths>({ baseUrl })

t.test('a frontend drives Accord through openapi-fetch and the generated types', async (t) => {
  /** A new user: a development token from POST /v1/dev/tokens, and a client that sends it. */
  async function signIn(name: string): Promise<{ api: Accord; id: string }> {
    const sub = `${name.toLowerCase()}-${randomUUID()}`
    const token = answered(
      'dev token',
      await anonymous.POST('/v1/dev/tokens', { body: { sub, name } }),
      201
    ).accessToken
    const api = createClient<paths>({ baseUrl, headers: { authorization: `Bearer ${token}` } })
    const me = answered('GET /v1/me', await api.GET('/v1/me'), 200)
    t.equal(me.displayName, name, `${name} is who the token says`)
    return { api, id: me.id }
  }

  const alice = await signIn('Alice')
  const bob = await signIn('Bob')

  const partnership = answered(
    'create partnership',
    await alice.api.POST('/v1/partnerships', {
      params: { header: { 'idempotency-key': randomUUID() } },
      body: { name: 'Alice & Bob', timezone: 'Europe/Paris' }
    }),
    201
  )
  const pid = partnership.id
  t.same(
    partnership.members.map((m) => [m.userId, m.role]),
    [[alice.id, 'partner']],
    'the creator is its one partner'
  )

  const invitation = answered(
    'invite',
    await alice.api.POST('/v1/partnerships/{pid}/invitations', {
      params: { path: { pid } },
      body: { role: 'partner' }
    }),
    201
  )
  t.equal(invitation.status, 'pending')
  const joined = answered(
    'accept',
    await bob.api.POST('/v1/invitations/accept', { body: { token: invitation.token } }),
    201
  )
  t.same(joined, { partnershipId: pid, role: 'partner' }, 'Bob joins as a partner')
  const members = answered(
    'members',
    await bob.api.GET('/v1/partnerships/{pid}/members', { params: { path: { pid } } }),
    200
  )
  t.same(new Set(members.items.map((m) => m.userId)), new Set([alice.id, bob.id]), 'both are members')

  const draft = answered(
    'create agreement',
    await alice.api.POST('/v1/partnerships/{pid}/agreements', {
      params: { path: { pid } },
      body: {
        draft: true,
        content: {
          title: 'Phone transparency',
          category: 'transparency',
          clauses: [
            {
              key: 'no-hidden-chats',
              text: "We don't delete or hide conversations with people we've dated.",
              consequences: ['We talk it through within 48 hours.']
            },
            { key: 'home-by-midnight', text: 'We are home by midnight or we call.' }
          ],
          review: { rrule: 'FREQ=MONTHLY;BYDAY=1SU' }
        }
      }
    }),
    201
  )
  const aid = draft.id
  t.equal(draft.status, 'draft', 'saved as a draft')
  const version = { pid, aid, n: 1 }

  const proposed = answered(
    'propose',
    await alice.api.POST('/v1/partnerships/{pid}/agreements/{aid}/versions/{n}/propose', {
      params: { path: version, header: { 'idempotency-key': randomUUID() } }
    }),
    200
  )
  t.equal(proposed.status, 'proposed', 'version 1 is proposed')
  t.same(new Set(proposed.requiredSigners), new Set([alice.id, bob.id]), 'both partners must sign')

  t.same(
    proposed.signatures.map((s) => s.signerId),
    [alice.id],
    "proposing is signing: the proposal carries its author's signature"
  )

  const seen = answered(
    'GET version',
    await bob.api.GET('/v1/partnerships/{pid}/agreements/{aid}/versions/{n}', { params: { path: version } }),
    200
  )
  t.equal(seen.contentHash, proposed.contentHash, 'Bob reads the text Alice proposed')
  const twice = await alice.api.POST('/v1/partnerships/{pid}/agreements/{aid}/versions/{n}/signatures', {
    params: { path: version },
    body: { contentHash: seen.contentHash }
  })
  t.equal(twice.error?.code, 'already-signed', 'Alice cannot sign twice')
  t.equal(twice.response.status, 409)
  const receipt = answered(
    'sign',
    await bob.api.POST('/v1/partnerships/{pid}/agreements/{aid}/versions/{n}/signatures', {
      params: { path: version, header: { 'idempotency-key': randomUUID() } },
      body: { contentHash: seen.contentHash }
    }),
    201
  )
  t.equal(receipt.signerId, bob.id)
  t.equal(receipt.versionStatus, 'active', 'the last signature needed activates the version')
  t.equal(receipt.agreementStatus, 'active')
  t.match(receipt.receipt, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'with a compact JWS receipt')

  const active = answered(
    'GET agreement',
    await bob.api.GET('/v1/partnerships/{pid}/agreements/{aid}', { params: { path: { pid, aid } } }),
    200
  )
  t.equal(active.status, 'active')
  t.equal(active.activeVersion, 1)
  t.equal(active.proposal, null, 'no open proposal left')
  t.same(
    active.active?.signatures.map((s) => s.signerId).sort(),
    [alice.id, bob.id].sort(),
    'the active version carries both signatures'
  )

  const report = {
    params: { path: { pid, aid }, header: { 'idempotency-key': randomUUID() } },
    body: {
      clauseKey: 'home-by-midnight',
      subjectId: bob.id,
      occurredAt: new Date().toISOString(),
      description: 'Home at two, no call.'
    }
  }
  const incident = answered(
    'report',
    await alice.api.POST('/v1/partnerships/{pid}/agreements/{aid}/incidents', report),
    201
  )
  t.equal(incident.clauseKey, 'home-by-midnight')
  t.equal(incident.subjectId, bob.id)
  const replayed = answered(
    'report again',
    await alice.api.POST('/v1/partnerships/{pid}/agreements/{aid}/incidents', report),
    201
  )
  t.equal(replayed.id, incident.id, 'the same Idempotency-Key and body answer the first report, not a second one')
  const incidents = answered(
    'incidents',
    await bob.api.GET('/v1/partnerships/{pid}/agreements/{aid}/incidents', { params: { path: { pid, aid } } }),
    200
  )
  t.same(
    incidents.items.map((i) => i.id),
    [incident.id],
    'one incident'
  )

  const events = answered(
    'events',
    await bob.api.GET('/v1/partnerships/{pid}/events', { params: { path: { pid }, query: { limit: 100 } } }),
    200
  )
  t.same(
    events.items.map((e) => e.type),
    [
      'partnership.created',
      'member.joined',
      'invitation.created',
      'member.joined',
      'agreement.created',
      'version.drafted',
      'version.proposed',
      'version.signed',
      'version.signed',
      'version.activated',
      'incident.reported'
    ],
    'the log tells the flow in order'
  )
  t.equal(events.nextCursor, null, 'on one page')
  t.same(
    events.items.map((e) => e.seq),
    events.items.map((_, i) => i + 1),
    'seq counts from 1 without a gap'
  )
})

t.test('failures come back typed as problem+json in `error`', async (t) => {
  const { accessToken } = answered(
    'dev token',
    await anonymous.POST('/v1/dev/tokens', { body: { sub: `carol-${randomUUID()}`, name: 'Carol' } }),
    201
  )
  const carol = createClient<paths>({ baseUrl, headers: { authorization: `Bearer ${accessToken}` } })

  const missing = await carol.GET('/v1/partnerships/{pid}/agreements/{aid}', {
    params: { path: { pid: randomUUID(), aid: randomUUID() } }
  })
  t.equal(missing.response.status, 404)
  t.equal(missing.data, undefined)
  const problem: Problem | undefined = missing.error
  t.match(missing.response.headers.get('content-type'), /^application\/problem\+json/)
  t.equal(problem?.status, 404)
  t.equal(problem?.code, 'not-found')
  t.match(problem?.type, /\/problems\/not-found$/)

  const anonymousRead = await anonymous.GET('/v1/me')
  t.equal(anonymousRead.response.status, 401, 'without a token')
  t.equal(anonymousRead.error?.status, 401)

  const invalid = await carol.POST('/v1/partnerships', {
    // @ts-expect-error a partnership needs a timezone: the types refuse what the server refuses
    body: { name: 'No zone' }
  })
  t.equal(invalid.response.status, 400, 'and the server refuses it too')
  t.equal(invalid.error?.code, 'validation-failed')
  t.same(
    invalid.error?.errors?.map((e) => e.path),
    ['/timezone'],
    'naming the missing field'
  )
})
