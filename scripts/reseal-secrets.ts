// npm run secrets:reseal: the online step of a SECRET_KEY rotation without downtime (README, "Secrets at rest").
// With SECRET_KEY set to the new key and SECRET_KEY_EXTRA to the old one (as every running instance already is),
// it re-seals every secret at rest under the new key, in short transactions while the service keeps serving.
// Afterwards the old key opens nothing: drop SECRET_KEY_EXTRA from each instance at its next restart.
import { loadConfig } from '../src/config.ts'
import { createDb, type Database } from '../src/db/client.ts'
import { KekError, loadKek } from '../src/keys/kek.ts'
import { resealSecrets } from '../src/orchestration/secrets.service.ts'
import { reportFailure } from './failure.ts'

let database: Database | undefined
try {
  const config = loadConfig()
  if (config.secrets.key === null)
    throw new KekError(
      'SECRET_KEY is required: the key to re-seal under (with SECRET_KEY_EXTRA, the old one); with a key file, use npm run secrets:rotate'
    )
  const kek = loadKek(config.secrets)
  database = await createDb(config.database, { holderUrl: 'npm run secrets:reseal' })
  await database.migrate()
  const moved = await resealSecrets(database.db, kek, (n) => {
    if (n > 0 && n % 10_000 === 0) process.stdout.write(`  ${n} data keys re-sealed…\n`)
  })
  process.stdout.write(
    `re-sealed under SECRET_KEY: ${moved.serviceKeys} service key(s), ${moved.webhooks} webhook secret(s), ${moved.serverSecrets} server secret(s), ${moved.dataKeys} data key(s); SECRET_KEY_EXTRA can now be dropped\n`
  )
} catch (err) {
  reportFailure(err)
} finally {
  await database?.close()
}
