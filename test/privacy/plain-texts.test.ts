import t from 'tap'
import { execute } from '../../src/db/driver.ts'
import { assembleDeps } from '../../src/deps.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { incidentKit, incidentTerms } from '../helpers/incidents.ts'

// Texts stored before data keys existed (migration 0012 marks them `plain:`) are sealed at the next start,
// under their author's data key, and read as written: the upgrade loses nothing and leaves nothing readable
// in a dump.

const ctx = await buildTestApp(t)
const k = agreementKit(ctx)
const i = incidentKit(ctx, k)

t.test('a start seals every marked text under its author key', async (t) => {
  const [alice, bob] = await Promise.all([k.person('Alice'), k.person('Bob')])
  const { pid } = await k.partnership(alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid, incidentTerms())
  const incident = await i.reported(alice, pid, aid, i.reportBody(bob))
  const appreciation = k
    .expectStatus(await i.appreciate(bob, pid, aid, { text: 'placeholder' }), 201, 'appreciate')
    .json()
  // as a database from before 0012 holds them, after the migration marked them
  await execute(
    ctx.deps.db,
    `update incidents set description = 'plain:Old description, from before', answer_note = null where id = $1`,
    [incident.id]
  )
  await execute(ctx.deps.db, `update appreciations set text = 'plain:An old thank-you' where id = $1`, [
    appreciation.id
  ])
  t.equal(
    (await i.getIncident(bob, pid, aid, incident.id)).description,
    'Old description, from before',
    'marked texts read as written'
  )

  await assembleDeps(ctx.deps.config, ctx.database, ctx.clock.now) // what a start does before listening
  const raw = await execute(ctx.deps.db, 'select description from incidents where id = $1', [incident.id])
  t.match(raw[0]!.description, /^v1\./, 'sealed at rest')
  const rawText = await execute(ctx.deps.db, 'select text from appreciations where id = $1', [appreciation.id])
  t.match(rawText[0]!.text, /^v1\./)
  t.equal(
    (await i.getIncident(bob, pid, aid, incident.id)).description,
    'Old description, from before',
    'and reads the same'
  )
  const listed = await i.allAppreciations(alice, pid, aid)
  t.equal(listed.find((a) => a.id === appreciation.id)?.text, 'An old thank-you')
  const left = await execute(
    ctx.deps.db,
    `select count(*)::int as n from incidents where description like 'plain:%' or answer_note like 'plain:%'`,
    []
  )
  t.equal(left[0]!.n, 0, 'nothing marked is left')
})
