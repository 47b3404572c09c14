// npm run keys:rotate: makes a new service signing key (Ed25519) the active one and retires the key in use.
// The retired key stays in /.well-known/jwks.json by its kid, so receipts, checkpoints and tokens it signed keep
// verifying. Running servers keep signing with the key they loaded at start: restart each one afterwards.
// PGlite: run it while no server holds DATA_DIR (the data directory has one holder at a time).
import { loadConfig } from '../src/config.ts'
import { createDb, type Database } from '../src/db/client.ts'
import { loadKek } from '../src/keys/kek.ts'
import { loadServiceKeys, rotateServiceKey } from '../src/keys/key.service.ts'
import { reportFailure } from './failure.ts'

let database: Database | undefined
try {
  const config = loadConfig()
  database = await createDb(config.database, { holderUrl: 'npm run keys:rotate' })
  await database.migrate()
  const kek = loadKek(config.secrets)
  // Opens the keys there are first: a SECRET_KEY that does not fit this database stops here, changing nothing.
  await loadServiceKeys(database.db, () => new Date(), kek)
  const { kid, retired } = await rotateServiceKey(database.db, () => new Date(), kek)
  process.stdout.write(
    `new active key ${kid}${retired === 0 ? ' (there was none before)' : '; the previous one is retired and stays published'}: restart every instance\n`
  )
} catch (err) {
  reportFailure(err)
} finally {
  await database?.close()
}
