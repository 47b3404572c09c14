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

t.test('a marked text whose author was erased is shredded, not sealed under a new key nor kept readable', async (t) => {
  const [alice, bob, carol] = await Promise.all([k.person('Alice'), k.person('Bob'), k.person('Carol')])
  const { pid } = await k.partnership(alice, [bob, carol])
  const aid = await k.activeAgreement(alice, [bob, carol], pid, incidentTerms())
  const byCarol = k.expectStatus(await i.appreciate(carol, pid, aid, { text: 'placeholder' }), 201, 'appreciate').json()
  const aboutBob = await i.reported(carol, pid, aid, i.reportBody(bob))
  // Carol is erased (her row marked, her key gone: no key can be made for her again) while texts of hers were
  // still marked, as on a database upgraded and not yet started since.
  const etag = (await ctx.request({ method: 'GET', url: '/v1/me', token: carol.token })).headers.etag as string
  const erased = await ctx.request({
    method: 'DELETE',
    url: '/v1/me',
    token: carol.token,
    headers: { 'if-match': etag }
  })
  t.equal(erased.statusCode, 204)
  await execute(ctx.deps.db, `update appreciations set text = 'plain:Carol, before' where id = $1`, [byCarol.id])
  await execute(ctx.deps.db, `update incidents set description = 'plain:Carol saw it' where id = $1`, [aboutBob.id])

  await assembleDeps(ctx.deps.config, ctx.database, ctx.clock.now) // a start: it must not fail on them
  const dump = JSON.stringify([
    await execute(ctx.deps.db, 'select * from appreciations', []),
    await execute(ctx.deps.db, 'select * from incidents', []),
    await execute(ctx.deps.db, 'select * from data_keys', [])
  ])
  t.notOk(dump.includes('Carol, before'), 'her old appreciation is not readable at rest')
  t.notOk(dump.includes('Carol saw it'), 'nor her old description')
  const [keys] = await execute(ctx.deps.db, 'select count(*)::int as n from data_keys where user_id = $1', [carol.id])
  t.equal(keys!.n, 0, 'no data key was made for her again')
  const listed = await i.allAppreciations(alice, pid, aid)
  t.match(
    listed.find((a) => a.id === byCarol.id),
    { text: null, erased: true },
    'it reads as her other texts do'
  )
  t.match(await i.getIncident(bob, pid, aid, aboutBob.id), { description: null, erased: true })
})
