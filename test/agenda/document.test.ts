import t from 'tap'
import { AgendaSchema } from '../../src/agenda/agenda.schemas.ts'
import { InsightsSchema } from '../../src/incidents/incident.schemas.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { incidentKit } from '../helpers/incidents.ts'

// The agenda and the insights are sent as JSON the route serialized itself (no run-time pass of the response
// schema, for speed): their bodies must still be exactly what the schema describes, no member more or less.
const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const i = incidentKit(ctx, k)

t.test('agenda and insights answer exactly their documented schemas', async (t) => {
  const [alice, bob] = [await k.person('Alice'), await k.person('Bob')]
  const { pid } = await k.partnership(alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid)
  await i.reported(alice, pid, aid, i.reportBody(bob))
  k.expectStatus(await i.appreciate(bob, pid, aid, { text: 'Thanks' }), 201, 'appreciation')
  await k.proposeVersion(bob, pid, aid, {
    basedOn: 1,
    content: (await k.agreement(alice, pid, aid)).body.active.content
  })
  for (const [url, schema] of [
    [`/v1/partnerships/${pid}/agenda`, AgendaSchema],
    [`${k.agreementUrl(pid, aid)}/insights`, InsightsSchema]
  ] as const) {
    const res = await ctx.request({ method: 'GET', url, token: alice.token })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^application\/json/)
    const body = res.json()
    const parsed = schema.safeParse(body)
    t.ok(parsed.success, `${url} validates`, { issues: parsed.error?.issues })
    t.same(parsed.data, body, 'and holds nothing the schema does not name')
  }
})
