// The framework-plus-driver ceiling: bare Fastify, one primary-key SELECT through postgres.js.
import Fastify from 'fastify'
import postgres from 'postgres'

const sql = postgres(process.env.DATABASE_URL!, { max: Number(process.env.POOL ?? 20), onnotice: () => {} })
const app = Fastify()
app.get<{ Params: { id: string } }>('/agreements/:id', async (request, reply) => {
  const [row] =
    await sql`select id, partnership_id, title, category, lifecycle, active_version, open_proposal, next_review_at, created_at, updated_at from agreements where id = ${request.params.id}`
  if (!row) return reply.code(404).send({ error: 'not found' })
  return row
})
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })

process.on('SIGTERM', () => {
  void app
    .close()
    .then(() => sql.end())
    .then(() => process.exit(0))
})
