// npm run secrets:rotate: re-seals every secret at rest (the service's private keys, webhook secrets, the server
// secrets, every person's data key) from the
// current key-encryption key (SECRET_KEY, or DATA_DIR/secret.key when it is unset) to NEW_SECRET_KEY, in one
// transaction: all move or none does. Running servers keep the key they started with: stop them first, then
// start them with SECRET_KEY set to the new key (README, "Secrets at rest"). With a key file (no SECRET_KEY),
// the file is replaced by the new key after the commit. PGlite: run it while no server holds DATA_DIR.
import { loadConfig } from '../src/config.ts'
import { createDb, type Database } from '../src/db/client.ts'
import { KekError, loadKek, loadNewKek, replaceKeyFile } from '../src/keys/kek.ts'
import { loadServiceKeys } from '../src/keys/key.service.ts'
import { rotateSecretKey } from '../src/orchestration/secrets.service.ts'
import { sealPlainWebhookSecrets } from '../src/webhooks/secret.service.ts'
import { reportFailure } from './failure.ts'

let database: Database | undefined
try {
  const config = loadConfig()
  const to = loadNewKek(config.secrets)
  const from = loadKek(config.secrets)
  if (from.source === 'ephemeral')
    throw new KekError('nothing to rotate: there is no SECRET_KEY and no DATA_DIR key file')
  database = await createDb(config.database, { holderUrl: 'npm run secrets:rotate' })
  await database.migrate()
  // As a start would: secrets in the clear are sealed, and a current key that does not fit stops here.
  await loadServiceKeys(database.db, () => new Date(), from)
  await sealPlainWebhookSecrets(database.db, from)
  const moved = await rotateSecretKey(database.db, from, to)
  if (from.source === 'key file' && config.secrets.keyFile)
    replaceKeyFile(config.secrets.keyFile, config.secrets.newKey!)
  process.stdout.write(
    `re-sealed ${moved.serviceKeys} service key(s), ${moved.webhooks} webhook secret(s), ${moved.serverSecrets} server secret(s) and ${moved.dataKeys} data key(s) under NEW_SECRET_KEY: ${from.source === 'key file' ? `it is now in ${config.secrets.keyFile}; restart every instance` : 'start every instance with SECRET_KEY set to it'}\n`
  )
} catch (err) {
  reportFailure(err)
} finally {
  await database?.close()
}
