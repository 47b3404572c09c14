import { createPrivateKey, randomUUID, sign } from 'node:crypto'
import {
  compactVerify,
  createLocalJWKSet,
  errors,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyGetKey,
  SignJWT
} from 'jose'
import type { Db, DbOrTx } from '../db/client.ts'
import { transaction } from '../db/transaction.ts'
import { SealOpenError } from '../lib/seal.ts'
import { type Kek, KekError } from './kek.ts'
import * as repo from './key.repo.ts'

export const SERVICE_ALG = 'EdDSA'

/** The service's signing identity: tokens it issues, receipts, checkpoints. */
export interface ServiceKeys {
  readonly kid: string
  /** The public keys (active and retired) as published at /.well-known/jwks.json. */
  readonly jwks: JSONWebKeySet
  readonly getKey: JWTVerifyGetKey
  signJwt(
    claims: Record<string, unknown>,
    options: { issuer: string; audience: string; subject: string; ttlSeconds: number; now: Date }
  ): Promise<string>
  /** A compact JWS over a JSON payload (receipts, checkpoints), with `typ` naming what it is. */
  signJws(payload: Record<string, unknown>, typ: string): Promise<string>
  /**
   * Verifies a compact JWS of the service (any of its keys, current or retired, chosen by `kid`) and that its
   * `typ` is exactly `typ`: a receipt is never a checkpoint, a checkpoint never a receipt (nor a token).
   */
  verifyJws(jws: string, typ: string): Promise<JwsVerification>
}

/** What verifyJws found: the payload of a good JWS of the expected type, or why not. */
export type JwsVerification =
  | { ok: true; kid: string; payload: unknown }
  | { ok: false; reason: 'malformed' | 'bad-signature' | 'wrong-type' }

/** The shape of a compact JWS (RFC 7515 §7.1): three base64url parts. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

const purposeOf = (kid: string): string => `accord:service-key:${kid}`

/** A private JWK as stored: sealed under the KEK for its kid. */
function sealJwk(kek: Kek, kid: string, jwk: Record<string, unknown>): Record<string, unknown> {
  return { sealed: kek.seal(JSON.stringify(jwk), purposeOf(kid)) }
}

const isSealedJwk = (stored: Record<string, unknown>): stored is { sealed: string } => typeof stored.sealed === 'string'

/** The private JWK of a stored key; a KEK that does not open it is a KekError (the process must not start). */
export function openJwk(kek: Kek, row: repo.ServiceKeyRow): JWK {
  if (!isSealedJwk(row.privateJwk)) throw new KekError(`service key ${row.kid} is not sealed`)
  try {
    return JSON.parse(kek.open(row.privateJwk.sealed, purposeOf(row.kid))) as JWK
  } catch (err) {
    if (!(err instanceof SealOpenError)) throw err
    throw new KekError(
      `the secret key (${kek.source}) does not open the service key ${row.kid} in this database: start with the SECRET_KEY (or DATA_DIR/secret.key) it was sealed with`
    )
  }
}

/**
 * Seals every private key still stored in the clear (written before sealing existed), in one
 * transaction: an existing deployment moves over at its first start. Returns how many it sealed.
 */
export async function sealPlainServiceKeys(db: Db, kek: Kek): Promise<number> {
  return transaction(db, async (tx) => {
    let sealed = 0
    for (const row of await repo.lockAllKeys(tx)) {
      if (isSealedJwk(row.privateJwk)) continue
      await repo.updatePrivateJwk(tx, row.kid, sealJwk(kek, row.kid, row.privateJwk))
      sealed++
    }
    return sealed
  })
}

/**
 * Re-seals every private key from one KEK to another inside the caller's transaction (a rotation of
 * SECRET_KEY); a key the old KEK does not open stops it (KekError) before anything is committed.
 */
export async function resealServiceKeys(tx: DbOrTx, from: Kek, to: Kek): Promise<number> {
  const rows = await repo.lockAllKeys(tx)
  for (const row of rows) {
    const jwk = isSealedJwk(row.privateJwk) ? openJwk(from, row) : (row.privateJwk as JWK)
    await repo.updatePrivateJwk(tx, row.kid, sealJwk(to, row.kid, jwk as Record<string, unknown>))
  }
  return rows.length
}

/**
 * Loads the active Ed25519 key, generating it on the very first start. Several
 * instances starting at once converge on one key: the insert loses quietly to
 * the partial unique index and every instance reads back the winner. Keys stored
 * in the clear are sealed first; a KEK that does not open the active key throws
 * KekError here, at start, rather than failing requests later.
 */
export async function loadServiceKeys(db: Db, now: () => Date, kek: Kek): Promise<ServiceKeys> {
  await sealPlainServiceKeys(db, kek)
  let active = await repo.findActiveKey(db)
  if (!active) {
    await repo.insertKeyIfNoneActive(db, await newKeyRow(now(), kek))
    active = await repo.findActiveKey(db)
    if (!active) throw new Error('no active service key after creating one')
  }
  const all = await repo.listKeys(db)
  const jwks: JSONWebKeySet = { keys: all.map((k) => k.publicJwk as JWK) }
  const privateJwk = openJwk(kek, active)
  const privateKey = await importJWK(privateJwk, SERVICE_ALG)
  // Receipts are signed on every sign-off: node:crypto signs Ed25519 synchronously, several times faster
  // than a WebCrypto job, and the bytes are the same (Ed25519 is deterministic; jose verifies them in the tests).
  const signingKey = createPrivateKey({ key: privateJwk as JWK & { kty: string }, format: 'jwk' })
  const kid = active.kid
  const getKey = createLocalJWKSet(jwks)
  return {
    kid,
    jwks,
    getKey,
    async signJwt(claims, o) {
      const iat = Math.floor(o.now.getTime() / 1000)
      return new SignJWT(claims)
        .setProtectedHeader({ alg: SERVICE_ALG, kid, typ: 'JWT' })
        .setIssuer(o.issuer)
        .setAudience(o.audience)
        .setSubject(o.subject)
        .setIssuedAt(iat)
        .setExpirationTime(iat + o.ttlSeconds)
        .setJti(randomUUID())
        .sign(privateKey)
    },
    async signJws(payload, typ) {
      // RFC 7515 compact serialization: BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature).
      const signingInput = `${Buffer.from(JSON.stringify({ alg: SERVICE_ALG, kid, typ })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
      return `${signingInput}.${sign(null, Buffer.from(signingInput), signingKey).toString('base64url')}`
    },
    async verifyJws(jws, typ) {
      if (!COMPACT_JWS.test(jws)) return { ok: false, reason: 'malformed' }
      try {
        const { payload, protectedHeader } = await compactVerify(jws, getKey, { algorithms: [SERVICE_ALG] })
        if (protectedHeader.typ !== typ) return { ok: false, reason: 'wrong-type' }
        return { ok: true, kid: String(protectedHeader.kid), payload: JSON.parse(new TextDecoder().decode(payload)) }
      } catch (err) {
        // A header or payload that is not JSON, or a header jose refuses (no alg, crit it does not know): not a JWS.
        if (err instanceof errors.JWSInvalid || err instanceof SyntaxError) return { ok: false, reason: 'malformed' }
        return { ok: false, reason: 'bad-signature' } // wrong signature, unknown kid, another algorithm
      }
    }
  }
}

/**
 * Makes a new active key and retires the one in use, in one transaction: the retired key stays in the
 * JWKS (by its `kid`), so every receipt, checkpoint and token it signed keeps verifying. A running
 * process keeps the keys it loaded at start: restart every instance after a rotation (each then signs
 * with the new key and publishes both). Returns the new key's kid.
 */
export async function rotateServiceKey(db: Db, now: () => Date, kek: Kek): Promise<{ kid: string; retired: number }> {
  const row = await newKeyRow(now(), kek)
  return transaction(db, async (tx) => {
    const retired = await repo.retireActiveKey(tx)
    await repo.insertKeyIfNoneActive(tx, row)
    return { kid: row.kid, retired }
  })
}

async function newKeyRow(at: Date, kek: Kek): Promise<repo.ServiceKeyRow> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const kid = randomUUID()
  return {
    kid,
    status: 'active',
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: SERVICE_ALG, use: 'sig' },
    privateJwk: sealJwk(kek, kid, { ...(await exportJWK(privateKey)), kid, alg: SERVICE_ALG }),
    createdAt: at
  }
}
