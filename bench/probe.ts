// Ad-hoc load on a running Accord (BENCH_URL) against the bench database: for profiling one scenario.
import autocannon from 'autocannon'
import postgres from 'postgres'
import { loadConfig } from '../src/config.ts'
import { createDb } from '../src/db/client.ts'
import { loadServiceKeys } from '../src/keys/key.service.ts'

const DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/accord_bench'
const url = process.env.BENCH_URL!
const config = loadConfig({ DATABASE_URL, PUBLIC_URL: url, LOG_LEVEL: 'silent' })
const database = await createDb(config.database)
const keys = await loadServiceKeys(database.db, () => new Date())
const sql = postgres(DATABASE_URL, { max: 2 })
const rows = await sql`select u.subject, a.partnership_id, a.id from agreements a join memberships m on m.partnership_id = a.partnership_id and m.role = 'partner' join users u on u.id = m.user_id where a.lifecycle = 'active' and u.subject like 'bench-a-%' limit 1000`
const readers = await Promise.all(rows.map(async (r) => ({ p: r.partnership_id, a: r.id, auth: `Bearer ${await keys.signJwt({}, { issuer: url, audience: config.auth.audience, subject: r.subject, ttlSeconds: 3600, now: new Date() })}` })))
let i = 0
const res = await autocannon({ url, connections: 50, duration: Number(process.env.D ?? 8), requests: [{ method: 'GET', setupRequest: (req) => { const r = readers[i++ % readers.length]!; return { ...req, path: process.env.EVENTS ? `/v1/partnerships/${r.p}/events?limit=50` : `/v1/partnerships/${r.p}/agreements/${r.a}`, headers: { authorization: r.auth } } } }] })
console.log('rps', res['2xx'] / Number(process.env.D ?? 8), 'p50', res.latency.p50, 'p99', res.latency.p99, 'non2xx', res.non2xx)
await sql.end(); await database.close()
