// The framework-plus-PGlite ceilings, in one process as Accord on PGlite is: bare Fastify over a PGlite opened on
// a copy of Accord's seeded data directory: one primary-key SELECT, and the sign-off-shaped transaction that
// `npm run bench` gives pgbench (insert, update, insert), under the same load as Accord's.
import { PGlite } from '@electric-sql/pglite'
import Fastify from 'fastify'

const pg = new PGlite(process.env.DATA_DIR!)
await pg.waitReady
const app = Fastify()
app.get<{ Params: { id: string } }>('/agreements/:id', async (request, reply) => {
  const {
    rows: [row]
  } = await pg.query(
    'select id, partnership_id, title, category, lifecycle, active_version, open_proposal, next_review_at, created_at, updated_at from agreements where id = $1',
    [request.params.id]
  )
  if (!row) return reply.code(404).send({ error: 'not found' })
  return row
})
app.post('/sign-off', async () => {
  const vid = 1 + Math.floor(Math.random() * 100_000)
  await pg.transaction(async (tx) => {
    await tx.query('insert into bench_signatures (version_id, signed_at) values ($1, now())', [vid])
    await tx.query("update bench_versions set status = 'active', activated_at = now() where id = $1", [vid])
    await tx.query('insert into bench_events (version_id, at) values ($1, now())', [vid])
  })
  return { ok: true }
})
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })

process.on('SIGTERM', () => {
  void app
    .close()
    .then(() => pg.close())
    .then(() => process.exit(0))
})
